// People (admins): who is in the org with which role, a role to change and a remove per person,
// the pending invitations, and an invitation form whose link is shown once. Owners are changed
// by owners only, and the last owner by nobody (the server says so).
import { useState } from "preact/hooks";
import { api, ok } from "../api";
import { Failure } from "./parts";
import { useChanges, usePoll } from "./use-poll";

type PersonRole = "owner" | "admin" | "operator" | "viewer";
interface Person {
  id: string;
  email: string;
  name: string | null;
  role: PersonRole;
  joined_at: string;
  last_seen_at: string | null;
}
interface Invitation {
  id: string;
  email: string;
  role: PersonRole;
  expires_at: string;
}
const ROLES: PersonRole[] = ["viewer", "operator", "admin", "owner"];

export function People(props: { orgId: string; owner: boolean }) {
  const { version, failure, change: act } = useChanges();
  const people = usePoll(async () => ((await ok(await api.people.$get({ query: {} }))) as { people: Person[] }).people, [version, props.orgId], 30_000);
  const invitations = usePoll(async () => ((await ok(await api.invitations.$get({ query: {} }))) as { invitations: Invitation[] }).invitations, [version, props.orgId], 30_000);
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<PersonRole>("viewer");
  const [link, setLink] = useState<{ email: string; url: string } | null>(null);
  const roles = props.owner ? ROLES : ROLES.filter((r) => r !== "owner");

  const invite = () =>
    act(async () => {
      const made = (await ok(await api.invitations.$post({ json: { email, role } }))) as { url: string };
      setLink({ email, url: made.url });
      setEmail("");
    });

  return (
    <section>
      <h1>People</h1>
      <Failure error={people.error ?? invitations.error ?? failure} />
      <table aria-label="People">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Email</th>
            <th scope="col">Role</th>
            <th scope="col">Last seen</th>
            <th scope="col" />
          </tr>
        </thead>
        <tbody>
          {(people.data ?? []).map((p) => {
            const mayTouch = props.owner || p.role !== "owner";
            return (
              <tr key={p.id}>
                <td>{p.name ?? ""}</td>
                <td>{p.email}</td>
                <td>
                  {mayTouch ? (
                    <select
                      aria-label={`Role of ${p.email}`}
                      value={p.role}
                      onChange={(e) => {
                        const to = e.currentTarget.value as PersonRole;
                        void act(() => api.people[":person_id"].$patch({ param: { person_id: p.id }, query: {}, json: { role: to } }).then(ok));
                      }}
                    >
                      {roles.map((r) => (
                        <option value={r}>{r}</option>
                      ))}
                    </select>
                  ) : (
                    p.role
                  )}
                </td>
                <td>{p.last_seen_at ? new Date(p.last_seen_at).toLocaleString() : "never"}</td>
                <td>
                  {mayTouch ? (
                    <button
                      type="button"
                      aria-label={`Remove ${p.email}`}
                      onClick={() => {
                        if (confirm(`Remove ${p.email} from the org? Their next request is refused.`)) {
                          void act(() => api.people[":person_id"].$delete({ param: { person_id: p.id }, query: {} }).then(ok));
                        }
                      }}
                    >
                      Remove
                    </button>
                  ) : null}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>

      <h2>Invite</h2>
      <form
        aria-label="Invite a person"
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          void invite();
        }}
      >
        <label>
          Email <input type="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        </label>
        <label>
          Role{" "}
          <select value={role} onChange={(e) => setRole(e.currentTarget.value as PersonRole)}>
            {roles.map((r) => (
              <option value={r}>{r}</option>
            ))}
          </select>
        </label>
        <button type="submit">Invite</button>
      </form>
      {link ? (
        <p>
          Send this link to {link.email}; it is shown once, works once, for that email, for 7 days:{" "}
          <code aria-label="Invitation link" class="wrap">
            {link.url}
          </code>
        </p>
      ) : null}
      {(invitations.data ?? []).length > 0 ? (
        <table aria-label="Pending invitations">
          <thead>
            <tr>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col">Expires</th>
              <th scope="col" />
            </tr>
          </thead>
          <tbody>
            {invitations.data!.map((i) => (
              <tr key={i.id}>
                <td>{i.email}</td>
                <td>{i.role}</td>
                <td>{new Date(i.expires_at).toLocaleString()}</td>
                <td>
                  <button type="button" aria-label={`Withdraw the invitation of ${i.email}`} onClick={() => void act(() => api.invitations[":id"].$delete({ param: { id: i.id } }).then(ok))}>
                    Withdraw
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
