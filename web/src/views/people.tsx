// People (admins): who is in the org with which role, a role to change and a remove per person,
// the pending invitations, and an invitation form whose link is shown once. Owners are changed
// by owners only, and the last owner by nobody (the server says so).
import { useState } from "preact/hooks";
import { api, ok } from "../api";
import { Ago, CopyText, Empty, explain, Failure, When } from "./parts";
import { Table } from "./table";
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
  const { version, failure, change, setFailure } = useChanges();
  /** A change, its failure in words (a field's problem as "Email: Not a valid email address"). */
  const act = (work: () => Promise<unknown>) =>
    change(async () => {
      try {
        await work();
      } catch (err) {
        throw new Error(explain(err));
      }
    });
  const people = usePoll(
    async () => ((await ok(await api.people.$get({ query: {} }))) as { people: Person[] }).people,
    [version, props.orgId],
    30_000,
  );
  const invitations = usePoll(
    async () => ((await ok(await api.invitations.$get({ query: {} }))) as { invitations: Invitation[] }).invitations,
    [version, props.orgId],
    30_000,
  );
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
    <section aria-labelledby="people-title">
      <h1 id="people-title">People</h1>
      <Failure error={people.error ?? invitations.error ?? failure} />
      {people.data ? (
        <Table
          label="People"
          rows={people.data}
          rowKey={(p) => p.id}
          initial={{ key: "name" }}
          empty={<p>Nobody has joined yet: invite someone below.</p>}
          columns={[
            {
              key: "name",
              label: "Name",
              cell: (p) => p.name ?? <span class="muted">—</span>,
              sort: (p) => (p.name ?? p.email).toLowerCase(),
            },
            { key: "email", label: "Email", cell: (p) => <span class="wrap">{p.email}</span>, sort: (p) => p.email },
            {
              key: "role",
              label: "Role",
              cell: (p) =>
                props.owner || p.role !== "owner" ? (
                  <select
                    aria-label={`Role of ${p.email}`}
                    value={p.role}
                    onChange={(e) => {
                      const to = e.currentTarget.value as PersonRole;
                      void act(() =>
                        api.people[":person_id"]
                          .$patch({ param: { person_id: p.id }, query: {}, json: { role: to } })
                          .then(ok),
                      );
                    }}
                  >
                    {roles.map((r) => (
                      <option value={r}>{r}</option>
                    ))}
                  </select>
                ) : (
                  <span class="badge role owner">{p.role}</span>
                ),
              sort: (p) => ROLES.indexOf(p.role),
            },
            {
              key: "joined",
              label: "Joined",
              cell: (p) => <When at={p.joined_at} />,
              sort: (p) => Date.parse(p.joined_at),
            },
            {
              key: "seen",
              label: "Last seen",
              cell: (p) => <Ago at={p.last_seen_at} />,
              sort: (p) => (p.last_seen_at ? -Date.parse(p.last_seen_at) : null),
            },
            {
              key: "remove",
              label: "Remove",
              cell: (p) =>
                props.owner || p.role !== "owner" ? (
                  <button
                    type="button"
                    class="danger"
                    aria-label={`Remove ${p.email}`}
                    onClick={() => {
                      if (confirm(`Remove ${p.email} from the org? Their next request is refused.`)) {
                        setFailure(null);
                        void act(() =>
                          api.people[":person_id"].$delete({ param: { person_id: p.id }, query: {} }).then(ok),
                        );
                      }
                    }}
                  >
                    Remove
                  </button>
                ) : (
                  <span class="muted">—</span>
                ),
            },
          ]}
        />
      ) : null}

      <h2 id="invite-title">Invite</h2>
      <form
        aria-label="Invite a person"
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          void invite();
        }}
      >
        <label class="field">
          <span>Email</span>
          <input
            type="email"
            required
            value={email}
            placeholder="carol@example.com"
            onInput={(e) => setEmail(e.currentTarget.value)}
          />
        </label>
        <label class="field">
          <span>Role</span>
          <select value={role} onChange={(e) => setRole(e.currentTarget.value as PersonRole)}>
            {roles.map((r) => (
              <option value={r}>{r}</option>
            ))}
          </select>
        </label>
        <button type="submit">Invite</button>
      </form>
      {link ? (
        <div class="secrets" role="status">
          <p>Send this link to {link.email}; it is shown once, works once, for that email, for 7 days:</p>
          <p>
            {/* biome-ignore lint/a11y/useAriaPropsSupportedByRole: names the link for people using a screen reader and for the browser test that reads it */}
            <code aria-label="Invitation link" class="wrap">
              {link.url}
            </code>
          </p>
          <p class="actions">
            <CopyText text={link.url} label="Copy the invitation link" />
            <button type="button" onClick={() => setLink(null)}>
              Done
            </button>
          </p>
        </div>
      ) : null}
      <h3 id="pending-title">Pending invitations</h3>
      {invitations.data && invitations.data.length === 0 ? <Empty title="No invitation is waiting" /> : null}
      {invitations.data && invitations.data.length > 0 ? (
        <Table
          label="Pending invitations"
          rows={invitations.data}
          rowKey={(i) => i.id}
          initial={{ key: "expires" }}
          columns={[
            { key: "email", label: "Email", cell: (i) => <span class="wrap">{i.email}</span>, sort: (i) => i.email },
            { key: "role", label: "Role", cell: (i) => i.role, sort: (i) => ROLES.indexOf(i.role) },
            {
              key: "expires",
              label: "Expires",
              cell: (i) => (
                <span>
                  <When at={i.expires_at} />{" "}
                  <span class="muted">
                    (<Ago at={i.expires_at} />)
                  </span>
                </span>
              ),
              sort: (i) => Date.parse(i.expires_at),
            },
            {
              key: "withdraw",
              label: "Withdraw",
              cell: (i) => (
                <button
                  type="button"
                  aria-label={`Withdraw the invitation of ${i.email}`}
                  onClick={() => void act(() => api.invitations[":id"].$delete({ param: { id: i.id } }).then(ok))}
                >
                  Withdraw
                </button>
              ),
            },
          ]}
        />
      ) : null}
    </section>
  );
}
