import { useState } from "preact/hooks";
import { Failure } from "./parts";

/** Sign in with an org API key; it is kept in this tab's session storage only. */
export function SignIn(props: { onSubmit: (key: string) => void; error: string | null }) {
  const [key, setKey] = useState("");
  return (
    <main class="sign-in">
      <h1>fleetbeat</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (key.trim()) props.onSubmit(key.trim());
        }}
      >
        <label for="api-key">API key</label>
        <input id="api-key" type="password" autocomplete="off" value={key} onInput={(e) => setKey(e.currentTarget.value)} />
        <button type="submit">Sign in</button>
        <Failure error={props.error} />
      </form>
    </main>
  );
}
