// The dashboard's shell: sign-in, the org's projects, navigation, and one view per URL hash
// (#/fleet, #/devices/<id>, #/sessions, #/sessions/<id>, #/logs, #/alerts, #/alerts/<rule
// id>, #/usage, and for admins #/access, #/people and #/audit; #/accept/<token> takes an
// invitation), so reload and back work. A viewer sees no control that changes anything; an
// operator sees only the command and silence controls. People sign in through the team's
// identity provider (an HttpOnly cookie the page never sees); machines and local use may paste
// an org key instead.
import { useEffect, useState } from "preact/hooks";
import { ApiFailure, api, chooseOrg, chosenOrg, describe, type KeyRole, loginUrl, ok, savedKey, saveKey } from "./api";
import { Access } from "./views/access";
import { Alerts, RuleDeliveries } from "./views/alerts";
import { Audit } from "./views/audit";
import { DeviceView } from "./views/device";
import { Fleet } from "./views/fleet";
import { Logs } from "./views/logs";
import { People } from "./views/people";
import { SessionFiles, Sessions } from "./views/sessions";
import { SignIn } from "./views/sign-in";
import { Usage } from "./views/usage";

type PersonRole = "owner" | KeyRole;
export interface Me {
  org: { id: string; name: string; tier: string };
  key?: { id: string; role: KeyRole; name: string };
  person?: { id: string; email: string; name: string | null; role: PersonRole };
  orgs?: { id: string; name: string; role: PersonRole }[];
}

/** What the caller may do in the views: an owner acts as an admin there. */
const roleOf = (me: Me): KeyRole => me.key?.role ?? (me.person!.role === "owner" ? "admin" : me.person!.role);
/** Who is signed in, for the header: the key's name, or the person. */
const whoOf = (me: Me) => (me.person ? (me.person.name ?? me.person.email) : me.key!.name);
export interface Project {
  id: string;
  name: string;
}

/** The view's path segments and its query (#/logs?session_id=…), from the URL hash. */
const route = () => {
  const [path, query = ""] = (location.hash.replace(/^#\/?/, "") || "fleet").split("?");
  return { parts: path!.split("/"), query: new URLSearchParams(query) };
};

export function App() {
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [projects, setProjects] = useState<Project[]>([]);
  const [projectId, setProjectId] = useState<string>(() => sessionStorage.getItem("fleetbeat.project") ?? "");
  const [path, setPath] = useState(route());

  useEffect(() => {
    const onHash = () => setPath(route());
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);

  /** Who we are, by the key just pasted or (none) the session cookie; the org's projects. */
  const signIn = async (key: string | null) => {
    saveKey(key);
    try {
      // A key's answer or a person's: one of two shapes, read as Me.
      const who = await ok((await api.me.$get()) as unknown as { ok: boolean; status: number; json(): Promise<Me> });
      if (who.person && chosenOrg() !== who.org.id) chooseOrg(who.org.id);
      const list = (await ok(await api.projects.$get({ query: { limit: "100" } }))) as { projects: Project[] };
      setProjects(list.projects);
      setProjectId((current) => (list.projects.some((p) => p.id === current) ? current : (list.projects[0]?.id ?? "")));
      setMe(who);
      setError(null);
    } catch (err) {
      saveKey(null);
      setMe(null);
      // No session is the usual start, not an error; a session without an org says so.
      if (key === null && err instanceof ApiFailure && err.status === 401) setError(null);
      else setError(err instanceof ApiFailure && err.status === 401 ? "That key was not accepted." : describe(err));
    }
  };
  const [signInOn, setSignInOn] = useState(false);

  /**
   * An invitation's link (#/accept/<token>): taken with the session, if there is one; else the sign-in page,
   * which comes back here.
   */
  const accept = async (token: string) => {
    try {
      const taken = (await ok(await api.invitations.accept.$post({ json: { token } }))) as { org_id: string };
      chooseOrg(taken.org_id);
      location.hash = "#/fleet";
      await signIn(null);
    } catch (err) {
      setError(err instanceof ApiFailure && err.status === 401 ? "Sign in to accept the invitation." : describe(err));
    }
  };

  useEffect(() => {
    const [first, token] = route().parts;
    // A person's session cookie is HttpOnly; its hint cookie says whether there may be one to ask about.
    const mayHaveSession = document.cookie.split("; ").includes("fb_signed_in=1");
    if (first === "accept" && token && !savedKey()) {
      if (mayHaveSession) void accept(token);
      else setError("Sign in to accept the invitation.");
    } else if (savedKey() || mayHaveSession) void signIn(savedKey());
    void api.health
      .$get()
      .then(async (res) => setSignInOn(((await res.json()) as { sign_in?: boolean }).sign_in === true));
  }, []);
  useEffect(() => sessionStorage.setItem("fleetbeat.project", projectId), [projectId]);

  const [view, arg] = path.parts;
  if (!me) {
    return (
      <>
        <SignIn
          onSubmit={signIn}
          error={error}
          signInUrl={signInOn ? loginUrl(location.hash ? `/${location.hash}` : "/") : null}
        />
        <footer class="site-footer">
          <a href="/docs">API reference</a>
        </footer>
      </>
    );
  }
  const role = roleOf(me);
  const project = projects.find((p) => p.id === projectId);
  return (
    <div class="shell">
      <header>
        <strong class="brand">fleetbeat</strong>
        <nav aria-label="Views">
          {(
            [
              "fleet",
              "sessions",
              "logs",
              "alerts",
              "usage",
              ...(role === "admin" ? (["access", "people", "audit"] as const) : []),
            ] as const
          ).map((v) => (
            <a href={`#/${v}`} aria-current={view === v ? "page" : undefined}>
              {v[0]!.toUpperCase() + v.slice(1)}
            </a>
          ))}
        </nav>
        <label class="project">
          Project{" "}
          <select value={projectId} onChange={(e) => setProjectId(e.currentTarget.value)}>
            {projects.map((p) => (
              <option value={p.id}>{p.name}</option>
            ))}
          </select>
        </label>
        {me.orgs && me.orgs.length > 1 ? (
          <label class="project">
            Org{" "}
            <select
              value={me.org.id}
              onChange={(e) => {
                chooseOrg(e.currentTarget.value);
                void signIn(null);
              }}
            >
              {me.orgs.map((o) => (
                <option value={o.id}>{o.name}</option>
              ))}
            </select>
          </label>
        ) : null}
        <span class="who">
          {me.org.name} · {whoOf(me)} · {me.person?.role ?? role}
        </span>
        <button
          type="button"
          onClick={() => {
            // A person's session ends on the server; a key is forgotten here.
            if (me.person) void api.auth.logout.$post().finally(() => chooseOrg(null));
            saveKey(null);
            setMe(null);
          }}
        >
          Sign out
        </button>
      </header>
      <main>
        {!project ? (
          <p>This org has no project yet. An admin makes one with POST /api/v1/projects.</p>
        ) : view === "devices" && arg ? (
          <DeviceView deviceId={decodeURIComponent(arg)} role={role} />
        ) : view === "sessions" && arg ? (
          <SessionFiles projectId={project.id} sessionId={decodeURIComponent(arg)} />
        ) : view === "sessions" ? (
          <Sessions projectId={project.id} />
        ) : view === "logs" ? (
          <Logs key={`${project.id}?${path.query}`} projectId={project.id} initial={Object.fromEntries(path.query)} />
        ) : view === "alerts" && arg ? (
          <RuleDeliveries ruleId={decodeURIComponent(arg)} />
        ) : view === "alerts" ? (
          <Alerts projectId={project.id} role={role} />
        ) : view === "usage" ? (
          <Usage projectId={project.id} />
        ) : view === "access" && role === "admin" ? (
          <Access projectId={project.id} keyId={me.key?.id ?? null} />
        ) : view === "people" && role === "admin" ? (
          <People orgId={me.org.id} owner={me.person?.role === "owner"} />
        ) : view === "audit" && role === "admin" ? (
          <Audit projectId={project.id} />
        ) : (
          <Fleet projectId={project.id} role={role} />
        )}
      </main>
      <footer class="site-footer">
        <a href="/docs">API reference</a>
      </footer>
    </div>
  );
}
