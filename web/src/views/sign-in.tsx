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
      <p class="muted">Your fleet's logs, sessions, metrics and alerts.</p>
      {props.signInUrl ? (
        <>
          <p>
            <a class="button primary" href={props.signInUrl}>
              Sign in
            </a>{" "}
            with your team's account
          </p>
          <p class="or muted">or use an org key</p>
        </>
      ) : null}
      <form
        aria-label="Use an org key"
        onSubmit={(e) => {
          e.preventDefault();
          if (key.trim()) props.onSubmit(key.trim());
        }}
      >
        <label for="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autocomplete="off"
          value={key}
          aria-describedby="api-key-hint"
          onInput={(e) => setKey(e.currentTarget.value)}
        />
        <p id="api-key-hint" class="muted hint">
          Kept in this tab only, until you sign out or close it.
        </p>
        <button type="submit" class="primary">
          Use key
        </button>
        <Failure error={props.error} />
      </form>
    </main>
  );
}
