// The dashboard's shell: sign-in, the org's projects, navigation, and one view per URL hash
// (#/fleet, #/devices/<id>, #/sessions, #/sessions/<id>, #/logs, #/alerts, #/alerts/<rule
// id>, #/usage, and for admin keys #/access and #/audit), so reload and back work. A viewer key sees no
// control that changes anything; an operator key sees only the command and silence controls.
import { useEffect, useState } from "preact/hooks";
import { type KeyRole, ApiFailure, api, describe, ok, saveKey, savedKey } from "./api";
import { Access } from "./views/access";
import { Alerts, RuleDeliveries } from "./views/alerts";
import { Audit } from "./views/audit";
import { DeviceView } from "./views/device";
import { Fleet } from "./views/fleet";
import { Logs } from "./views/logs";
import { SessionFiles, Sessions } from "./views/sessions";
import { SignIn } from "./views/sign-in";
import { Usage } from "./views/usage";

export interface Me {
  org: { id: string; name: string; tier: string };
  key: { id: string; role: KeyRole; name: string };
}
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

  const signIn = async (key: string) => {
    saveKey(key);
    try {
      const who = (await ok(await api.me.$get())) as Me;
      const list = (await ok(await api.projects.$get({ query: { limit: "100" } }))) as { projects: Project[] };
      setProjects(list.projects);
      setProjectId((current) => (list.projects.some((p) => p.id === current) ? current : (list.projects[0]?.id ?? "")));
      setMe(who);
      setError(null);
    } catch (err) {
      saveKey(null);
      setMe(null);
      setError(err instanceof ApiFailure && err.status === 401 ? "That key was not accepted." : describe(err));
    }
  };

  useEffect(() => {
    const key = savedKey();
    if (key) void signIn(key);
  }, []);
  useEffect(() => sessionStorage.setItem("fleetbeat.project", projectId), [projectId]);

  if (!me) {
    return (
      <>
        <SignIn onSubmit={signIn} error={error} />
        <footer class="site-footer">
          <a href="/docs">API reference</a>
        </footer>
      </>
    );
  }
  const [view, arg] = path.parts;
  const project = projects.find((p) => p.id === projectId);
  return (
    <div class="shell">
      <header>
        <strong class="brand">fleetbeat</strong>
        <nav aria-label="Views">
          {(["fleet", "sessions", "logs", "alerts", "usage", ...(me.key.role === "admin" ? (["access", "audit"] as const) : [])] as const).map((v) => (
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
        <span class="who">
          {me.org.name} · {me.key.role}
        </span>
        <a href="/docs">API reference</a>
        <button
          type="button"
          onClick={() => {
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
          <DeviceView deviceId={decodeURIComponent(arg)} role={me.key.role} />
        ) : view === "sessions" && arg ? (
          <SessionFiles projectId={project.id} sessionId={decodeURIComponent(arg)} />
        ) : view === "sessions" ? (
          <Sessions projectId={project.id} />
        ) : view === "logs" ? (
          <Logs projectId={project.id} initial={Object.fromEntries(path.query)} />
        ) : view === "alerts" && arg ? (
          <RuleDeliveries ruleId={decodeURIComponent(arg)} />
        ) : view === "alerts" ? (
          <Alerts projectId={project.id} role={me.key.role} />
        ) : view === "usage" ? (
          <Usage projectId={project.id} />
        ) : view === "access" && me.key.role === "admin" ? (
          <Access projectId={project.id} keyId={me.key.id} />
        ) : view === "audit" && me.key.role === "admin" ? (
          <Audit />
        ) : (
          <Fleet projectId={project.id} />
        )}
      </main>
    </div>
  );
}
