import { useState } from "preact/hooks";
import { Failure } from "./parts";

/**
 * Signing in: people with the team's identity provider (a link: the server redirects to it, and
 * the session lives in an HttpOnly cookie), or an org API key for machines and local use, kept in
 * this tab's session storage only.
 */
export function SignIn(props: { onSubmit: (key: string) => void; error: string | null; signInUrl: string | null }) {
  const [key, setKey] = useState("");
  return (
    <main class="sign-in">
      <h1>fleetbeat</h1>
      {props.signInUrl ? (
        <p>
          <a class="button" href={props.signInUrl}>
            Sign in
          </a>{" "}
          with your team's account
        </p>
      ) : null}
      <form
        aria-label="Use an org key"
        onSubmit={(e) => {
          e.preventDefault();
          if (key.trim()) props.onSubmit(key.trim());
        }}
      >
        <label for="api-key">API key</label>
        <input id="api-key" type="password" autocomplete="off" value={key} onInput={(e) => setKey(e.currentTarget.value)} />
        <button type="submit">Use key</button>
        <Failure error={props.error} />
      </form>
    </main>
  );
}
