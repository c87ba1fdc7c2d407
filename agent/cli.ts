// The device agent as a program: `npm run agent -- <command>` in this repository.
//
//   register --capsule capsule.json [--name N]   registers the device, keeps its id and key
//   run [--transport T] [--] <command...>         runs a program and ships what it prints
//   session start --name N | session end --status S
//   upload <file> [--path P]                      a file of the current session
//   tail <file>|-                                 follows a file (or stdin) and ships its lines
//   logs [--follow] [filters]                     reads a fleet's logs (people, with an org key)
//   daemon [--tail <file>]...                     heartbeats, runs commands, ships files
//
// The device's id and key are kept in $FLEETBEAT_CONFIG_DIR (default ~/.config/fleetbeat),
// in device.json, readable only by its owner; the log spool lives beside it, so nothing a
// program printed is lost to a crash or an outage.

import { fail } from "./cli/config.ts";
import { daemonCommand } from "./cli/daemon.ts";
import { logsCommand } from "./cli/logs.ts";
import { registerCommand } from "./cli/register.ts";
import { runCommand } from "./cli/run.ts";
import { sessionCommand } from "./cli/session.ts";
import { simulateCommand } from "./cli/simulate.ts";
import { tailCommand } from "./cli/tail.ts";
import { uploadCommand } from "./cli/upload.ts";

const HELP = `fleetbeat agent: runs beside a device's own software.

Usage: npm run agent -- <command> [options]     (in the repository)
       fleetbeat-agent <command> [options]         (installed on a device)

Commands:
  register --capsule <file> [--name <name>]
      Registers this device with a capsule (the answer of POST /api/v1/capsules/generate,
      saved as a file) and keeps its id and key in the config folder. Without a DSN in the
      capsule, the machine's hostname is the DSN.
  run [--transport socket|https] [--] <program> [args...]
      Runs the program and ships its output: stdout lines as INFO, stderr lines as ERROR,
      JSON lines with their own level, module, logger, message and context. Heartbeats
      while it runs. Exits with the program's exit code.
  session start --name <name> [--id <id>]
      Opens a session (one run); lines of later commands belong to it, until it ends.
  session end [--status completed|failed|aborted]
      Ends the current session (completed by default).
  upload <file> [--path <path>] [--type <content type>] [--part-mb N]
      Uploads a file to the current session, under its name or the given path; files over
      one part (64 MiB, or N MiB) go multipart.
  tail <file> | tail - [--transport socket|https]
      Follows a file, across rotation and truncation, and ships each new line (JSON lines
      with their own fields, others as INFO); "-" reads standard input to its end.
  logs [--follow] [--project <id>] [--device <id>] [--session <id>] [--level L[,L]] [-q <text>] [--limit N] [--json]
      For people: the newest lines of a project, device or session, oldest first, coloured by
      level on a terminal or as NDJSON with --json; --follow then tails new ones live. Needs an
      org key in FLEETBEAT_API_KEY, and the server in FLEETBEAT_URL (else the registered one).
  simulate --devices N --rate R [--duration S] --project <id> [--state <file>] [--quiet] ...
      Drives N virtual devices (R log lines a second each, heartbeats, sessions, files) against
      the server in FLEETBEAT_URL, with an org key in FLEETBEAT_API_KEY; transport, send pace,
      heartbeats, sessions and files are flags too. See simulate --help.
  daemon [--tail <file>]... [--transport socket|https]
      Runs until stopped: heartbeats at the server's interval with the machine's cpu_usage,
      memory_usage, disk_usage, temperature and battery_level (where it has them), runs the
      commands an admin queues (ping, upload, log-level, and programs config.json maps), and
      ships the files config.json lists under "tail" and those given here.
  --help
      This text.

run, tail and daemon all heartbeat, take commands (over the device WebSocket on Node 22+,
HTTPS while it is not open; --transport https or FLEETBEAT_SOCKET=off: HTTPS and polling)
and ship through a spool on disk that survives crashes and outages, bounded to 100 MB
(config.json "spool_max_mb"); lines dropped to keep the bound are reported. Lines wait up to
flush_ms (60 s) and go together; errors go at once, and every second while someone watches
the device live or a command runs (agent/README.md, "When the agent sends").
The config folder is $FLEETBEAT_CONFIG_DIR, or ~/.config/fleetbeat. It may hold config.json:
  {"upload_dirs": ["/var/log/robot"], "tail": ["/var/log/robot/nav.log"],
   "commands": {"restart-nav": {"run": ["systemctl", "restart", "nav"], "timeout_s": 30}},
   "spool_max_mb": 100, "batch_lines": 1000, "flush_ms": 60000, "transport": "socket",
   "command_poll_s": 10}
`;

const [command, ...rest] = process.argv.slice(2);
if (command === undefined || command === "--help" || command === "-h" || command === "help") console.log(HELP);
else if (command === "register") await registerCommand(rest);
else if (command === "run") await runCommand(rest);
else if (command === "session") await sessionCommand(rest);
else if (command === "upload") await uploadCommand(rest);
else if (command === "tail") await tailCommand(rest);
else if (command === "logs") await logsCommand(rest);
else if (command === "daemon") await daemonCommand(rest);
else if (command === "simulate") await simulateCommand(rest);
else fail(`unknown command "${command}" (see --help)`);
