/**
 * Issue 14, "Pods cannot become root": a real pod attacks the quick-start host it runs on, and
 * every attack fails. The host is the built `p2-bootstrap` laid out under a `p2t-` temp dir (its own
 * store with a root-only token, preparer, ports and kv user); the pods are Hoist artifacts whose
 * `bin/launch` is a /bin/sh script that performs the attacks as the pod's user and records each
 * outcome in `$POD_DATA_DIR/results/<attack>` ("blocked: …" or "SUCCEEDED: …", one line per run).
 *
 * Threat model (SECURITY.md): the preparer runs as root; a pod's code and everything its user can
 * write are untrusted; root trusts only root-owned files, its config and store entries that pass
 * policy. Whatever a pod does, it can affect only itself.
 *
 * One `it` per attack, so a regression names itself. The tests share one host and run in order:
 * the last ones update the hostile pod, restart the preparer and unschedule everything, then check
 * that root-owned canaries outside the pod root never changed.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  chmod,
  copyFile,
  lstat,
  mkdir,
  readdir,
  readFile,
  stat,
  writeFile,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { createStore, readTokenFile, type Store } from '@p2/kv';
import { parseManifest } from '@p2/manifest';
import { findUser } from '@p2/users';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BuiltArtifact,
  buildArtifact,
  type FileServer,
  repoRoot,
  serveDirectory,
  tempDir,
} from '../src/artifacts.js';
import {
  bootstrapStoreUrl,
  bootstrapTokenFile,
  runBootstrap,
  teardownBootstrappedHost,
} from '../src/bootstrap.js';
import { freePort, waitFor } from '../src/processes.js';

const run = promisify(execFile);
const id = randomBytes(3).toString('hex');
const node = `p2t-hostile-${id}`;
const kvUser = `p2t-kv-${id}`;
/** The attacker. */
const evil = `p2t-evil-${id}`;
/** A well-behaved neighbour with secrets in its config and env. */
const benign = `p2t-benign-${id}`;
/** Deployed while bad manifests fail, to show the preparer keeps working. */
const after = `p2t-after-${id}`;
/** Waits for the store to go down, then listens on its port. */
const squatter = `p2t-squat-${id}`;
/** Manifests the run_as policy must refuse. */
const refused = {
  root: `p2t-asroot-${id}`,
  nobody: `p2t-asnobody-${id}`,
  daemon: `p2t-asdaemon-${id}`,
  evilUser: `p2t-asevil-${id}`,
};
/** Manifests with ids that could escape a directory or clash with service names. */
const badIds = {
  dotdotLaunchable: `p2t-lid-${id}`,
  doubleUnderscore: `p2t-a__b${id}`,
  reservedLaunchable: `p2t-rsv-${id}`,
};
/** Manifests with local locations that must be refused without blocking or echoing content. */
const badLocations = {
  shadowDigest: `p2t-shadowd-${id}`,
  shadowArtifact: `p2t-shadowa-${id}`,
  devZero: `p2t-zero-${id}`,
  fifoDigest: `p2t-fifo-${id}`,
};
/** The command line `bin/enable` leaves running (unique on this host). */
const sleeper = 900_000 + Math.floor(Math.random() * 90_000);
const daemonSleeper = sleeper + 1;
const secret = `p2t-config-secret-${randomBytes(8).toString('hex')}`;
const envSecret = `p2t-env-secret-${randomBytes(8).toString('hex')}`;
const logSecret = `p2t-log-secret-${randomBytes(8).toString('hex')}`;
const pcprofile = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu']
  .map((d) => join(d, 'libpcprofile.so'))
  .find((p) => existsSync(p));

let work = '';
let kvPort = 0;
let statusPort = 0;
let token = '';
let store: Store | undefined;
let artifacts: FileServer | undefined;
let evilV1: BuiltArtifact;
let evilV2: BuiltArtifact;
let benignArtifact: BuiltArtifact;
let squatArtifact: BuiltArtifact;
let evilUid = -1;
let benignUid = -1;
/** Outside the pod root, root-owned: what symlinks planted by the pod point at. */
let canaryDir = '';
let canaryFile = '';
let canaryDigest = '';
/** A directory only root may write: libpcprofile loaded by a root process would create a file in it. */
let rootOnlyMarkerDir = '';
/** `dirname(work)/x`: where `<pod_root>/<pod>/../../../x` would land. */
let escapeTarget = '';
let escapeTargetExisted = false;

const pods = () => join(work, 'pods');
const services = () => join(work, 'service');
const home = (pod: string) => join(pods(), pod);
const serviceOf = (pod: string, launchable = 'app') => `${pod}__${launchable}__launch`;
const storeUrl = () => bootstrapStoreUrl(work, kvPort);

// ---------------------------------------------------------------------------------------------
// The hostile artifact: every attack as the pod's user, each outcome recorded.

const hostileLaunch = String.raw`#!/bin/sh
# A hostile pod. Each attempt appends "blocked: …" or "SUCCEEDED: …" to results/<name>.
R="$POD_DATA_DIR/results"
mkdir -p "$R"
runs=$(cat "$POD_DATA_DIR/runs" 2>/dev/null || echo 0); runs=$((runs + 1))
echo "$runs" > "$POD_DATA_DIR/runs"
echo "run=$runs uid=$(id -u) gid=$(id -g) groups=$(id -G) preload=$LD_PRELOAD" >> "$POD_DATA_DIR/ids"
attempt() {
  name=$1; shift
  if out=$("$@" 2>&1); then
    printf 'SUCCEEDED: %s\n' "$(echo "$out" | tr '\n' ' ')" >> "$R/$name"
  else
    printf 'blocked: %s\n' "$(echo "$out" | tr '\n' ' ')" >> "$R/$name"
  fi
}
H="$POD_HOME"
L="$H/app"
SVC="$ATTACK_SERVICE_ROOT/$POD_ID""__app__launch"
PREPARER_SVC="$ATTACK_SERVICE_ROOT/p2-preparer__preparer__launch"

# 1. env dirs: a variable the manifest did not set (root must never load it, the pod may not add it)
attempt env-pod-preload sh -c 'echo "$1" > "$2/env/LD_PRELOAD"' - "$LD_PRELOAD" "$H"
attempt env-launchable-preload sh -c 'echo "$1" > "$2/env/LD_PRELOAD"' - "$LD_PRELOAD" "$L"
attempt env-pod-replace sh -c 'mv "$1/env" "$1/env.old" || rm -rf "$1/env"; mkdir "$1/env"' - "$H"

# 2. the store, straight from inside the pod: intent for a root pod, reading intent, the token
printf 'id: %s\nrun_as: root\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: %s\n' \
  "$ATTACK_GRAB_POD" "$ATTACK_LOCATION" > "$POD_DATA_DIR/m.yaml"
code=$(curl -ksS -o "$POD_DATA_DIR/put-body" -w '%{http_code}' -X PUT --data-binary @"$POD_DATA_DIR/m.yaml" \
  "https://127.0.0.1:$ATTACK_KV_PORT/v1/kv/intent/$ATTACK_NODE/$ATTACK_GRAB_POD" 2>&1)
echo "$code" >> "$R/store-put-code"
code=$(curl -ksS -o /dev/null -w '%{http_code}' "https://127.0.0.1:$ATTACK_KV_PORT/v1/kv/intent/?recurse" 2>&1)
echo "$code" >> "$R/store-read-code"
attempt read-token cat "$ATTACK_TOKEN_FILE"

# 3. what root reads, links to, runs or deletes: replaced by links to a root-owned canary
for entry in config env app app/installs app/current app/last app/env current_manifest.yaml; do
  target="$ATTACK_CANARY_DIR"; [ "$entry" = current_manifest.yaml ] && target="$ATTACK_CANARY_FILE"
  attempt "link-$(echo "$entry" | tr / -)" sh -c \
    'mv -T "$1/$2" "$1/$2.gone" 2>/dev/null || rm -rf "$1/$2" 2>/dev/null; ln -sT "$3" "$1/$2"' - "$H" "$entry" "$target"
done
attempt link-new-launchable ln -s "$ATTACK_CANARY_DIR" "$H/planted"
attempt append-manifest sh -c 'echo "run_as: root" >> "$1/current_manifest.yaml"' - "$H"
attempt fifo-manifest sh -c 'rm -f "$1/current_manifest.yaml"; mkfifo "$1/current_manifest.yaml"' - "$H"
attempt rewrite-disable sh -c 'printf "#!/bin/sh\nid > %s/pwned\n" "$2" > "$1/bin/disable"' - "$LAUNCHABLE_ROOT" "$ATTACK_CANARY_DIR"
attempt chmod-disable chmod 777 "$LAUNCHABLE_ROOT/bin/disable"
attempt new-install mkdir "$L/installs/app_0000000000000000000000000000000000000000"
attempt pod-root-plant ln -s "$ATTACK_CANARY_DIR" "$ATTACK_POD_ROOT/p2t-planted-$ATTACK_NODE"
attempt chmod-home chmod 777 "$H"

# 4. links in its own data dir (allowed: it is the pod's), for uninstall to trip over
ln -sfn "$ATTACK_CANARY_DIR" "$POD_DATA_DIR/link-dir"
ln -sf "$ATTACK_CANARY_FILE" "$POD_DATA_DIR/link-file"
mkdir -p "$POD_DATA_DIR/nest/deeper"
ln -sfn "$ATTACK_CANARY_DIR" "$POD_DATA_DIR/nest/deeper/link-dir"
ln -sfn "$ATTACK_CANARY_DIR/.." "$POD_DATA_DIR/nest/up"
attempt hardlink-canary ln "$ATTACK_CANARY_FILE" "$POD_DATA_DIR/hardlink"

# 8. another pod's secrets
O="$ATTACK_OTHER_HOME"
attempt read-other-config sh -c 'cat "$1"/config/*' - "$O"
attempt read-other-pod-env sh -c 'cat "$1"/env/*' - "$O"
attempt read-other-launchable-env sh -c 'cat "$1"/app/env/*' - "$O"
attempt read-other-manifest cat "$O/current_manifest.yaml"
attempt read-other-data ls "$O/data"
attempt read-other-log cat "$ATTACK_SERVICE_ROOT/$ATTACK_OTHER_POD""__app__launch/log/main/current"
attempt read-other-environ sh -c 'found=1; for d in /proc/[0-9]*; do [ "$(stat -c %U "$d" 2>/dev/null)" = "$1" ] || continue; found=0; cat "$d/environ" || exit 1; done; exit $found' - "$ATTACK_OTHER_POD"

# more: supervision, cgroups, signals, setuid bits, the preparer's own files
attempt service-control sh -c 'echo d > "$1/supervise/control"' - "$SVC"
attempt service-run sh -c 'echo "id > /tmp/p2t-pwned" >> "$1/run"' - "$SVC"
attempt service-down touch "$SVC/down"
attempt preparer-control sh -c 'echo d > "$1/supervise/control"' - "$PREPARER_SVC"
attempt preparer-run sh -c 'echo "id > /tmp/p2t-pwned" >> "$1/run"' - "$PREPARER_SVC"
attempt service-new mkdir "$ATTACK_SERVICE_ROOT/p2t-planted-$ATTACK_NODE"
attempt preparer-signal kill -STOP "$ATTACK_PREPARER_PID"
attempt preparer-config sh -c 'cat "$1"/p2-preparer/config/*' - "$ATTACK_POD_ROOT"
attempt cgroup-escape sh -c 'moved=1; for f in /sys/fs/cgroup/*/cgroup.procs /sys/fs/cgroup/*/tasks; do [ -e "$f" ] || continue; if echo $$ 2>/dev/null > "$f"; then moved=0; echo "moved into $f"; fi; done; exit $moved'
attempt cgroup-limit sh -c 'wrote=1; for c in $(cut -d: -f3 /proc/self/cgroup | sort -u); do for f in /sys/fs/cgroup/memory$c/memory.limit_in_bytes /sys/fs/cgroup/cpu$c/cpu.cfs_quota_us; do [ -e "$f" ] || continue; if echo -1 2>/dev/null > "$f"; then wrote=0; echo "wrote $f"; fi; done; done; exit $wrote'
echo "$("$LAUNCHABLE_ROOT/tools/suid-id" -u 2>&1) mode=$(stat -c %a "$LAUNCHABLE_ROOT/tools/suid-id")" >> "$R/suid-euid"

# 7. a daemon that leaves the process group (and the service's supervision)
if [ "$runs" -eq 1 ]; then setsid sleep "$ATTACK_DAEMON_SLEEP" </dev/null >/dev/null 2>&1 & fi

touch "$POD_DATA_DIR/done-$runs"
# 1. exit, so runsv runs ./run again (twice): a restart must not pick up anything the pod planted
if [ "$runs" -lt 3 ]; then sleep 1; exit 1; fi
exec sleep 100000
`;

const hostileEnable = `#!/bin/sh
# 7. leave a process behind, in a new session: it must still be the pod's, in the pod's cgroup.
setsid sleep "$ATTACK_SLEEP" &
echo "enable uid=$(id -u) preload=$LD_PRELOAD" >> "$POD_DATA_DIR/lifecycle"
`;

const hostileDisable = `#!/bin/sh
echo "disable uid=$(id -u)" >> "$POD_DATA_DIR/lifecycle"
`;

const benignLaunch = `#!/bin/sh
echo "benign started: $LOG_SECRET"
exec sleep 100000
`;

/**
 * 9. Squatting the store's port: the moment the store is down, listen on its port and record what
 * clients send (the preparer's requests carry the store token). Holds the port for 8 s, once.
 */
const squatScript = `import { appendFileSync } from 'node:fs';
import { createServer } from 'node:net';
const out = process.env.POD_DATA_DIR + '/squat';
appendFileSync(out + '-started', 'pid ' + process.pid + '\\n');
const listen = () => {
  const server = createServer((socket) => {
    socket.on('data', (d) => appendFileSync(out + '-requests', d.toString('latin1')));
    socket.on('error', () => {});
  });
  server.once('error', () => setTimeout(listen, 5));
  server.listen(Number(process.env.ATTACK_KV_PORT), '127.0.0.1', () => {
    appendFileSync(out + '-bound', new Date().toISOString() + '\\n');
    setTimeout(() => process.exit(0), 8000);
  });
};
listen();
`;

const squatLaunch = `#!/bin/sh
if [ ! -e "$POD_DATA_DIR/squat-once" ]; then
  touch "$POD_DATA_DIR/squat-once"
  "$ATTACK_NODE_BIN" "$LAUNCHABLE_ROOT/squat.mjs"
fi
exec sleep 100000
`;

async function writeSource(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text, { mode: 0o755 });
  }
}

// ---------------------------------------------------------------------------------------------
// Manifests and the store.

interface LaunchableYaml {
  location: string;
  digestLocation?: string;
  env?: Record<string, string>;
}

function manifestYaml(
  podId: string,
  launchables: Record<string, LaunchableYaml>,
  extra: { runAs?: string; config?: Record<string, unknown> } = {},
): string {
  const lines = [`id: ${JSON.stringify(podId)}`];
  if (extra.runAs) lines.push(`run_as: ${JSON.stringify(extra.runAs)}`);
  lines.push('launchables:');
  for (const [lid, l] of Object.entries(launchables)) {
    lines.push(`  ${JSON.stringify(lid)}:`);
    lines.push('    launchable_type: hoist');
    lines.push(`    location: ${JSON.stringify(l.location)}`);
    if (l.digestLocation) lines.push(`    digest_location: ${JSON.stringify(l.digestLocation)}`);
    lines.push('    restart_timeout: 10s');
    if (l.env && Object.keys(l.env).length > 0) {
      lines.push('    env:');
      for (const [k, v] of Object.entries(l.env)) lines.push(`      ${k}: ${JSON.stringify(v)}`);
    }
  }
  lines.push(`config: ${JSON.stringify(extra.config ?? { note: 'p2t' })}`);
  lines.push('termination_grace_period: 10');
  return `${lines.join('\n')}\n`;
}

const urlOf = (artifact: BuiltArtifact) => `${artifacts?.url}/${artifact.fileName}`;

function hostileManifest(artifact: BuiltArtifact): string {
  return manifestYaml(evil, {
    app: {
      location: urlOf(artifact),
      env: {
        LD_PRELOAD: pcprofile as string,
        // The pod may write here, so the file is created by the first process that loads the
        // library: its owner must be the pod's uid.
        PCPROFILE_OUTPUT: join(home(evil), 'data', 'who'),
        ATTACK_CANARY_DIR: canaryDir,
        ATTACK_CANARY_FILE: canaryFile,
        ATTACK_KV_PORT: String(kvPort),
        ATTACK_NODE: node,
        ATTACK_GRAB_POD: `p2t-grab-${id}`,
        ATTACK_LOCATION: urlOf(benignArtifact),
        ATTACK_TOKEN_FILE: bootstrapTokenFile(work),
        ATTACK_OTHER_HOME: home(benign),
        ATTACK_OTHER_POD: benign,
        ATTACK_SERVICE_ROOT: services(),
        ATTACK_POD_ROOT: pods(),
        ATTACK_PREPARER_PID: String(preparerPidAtSchedule),
        ATTACK_SLEEP: String(sleeper),
        ATTACK_DAEMON_SLEEP: String(daemonSleeper),
      },
    },
  });
}
let preparerPidAtSchedule = 0;

function benignManifest(): string {
  return manifestYaml(
    benign,
    {
      app: {
        location: urlOf(benignArtifact),
        env: {
          API_KEY: envSecret,
          LOG_SECRET: logSecret,
          LD_PRELOAD: pcprofile as string,
          // Only root may create a file here: if any root process ever loads the pod's LD_PRELOAD,
          // this file appears (owned by root). The pod's own processes fail to create it, silently.
          PCPROFILE_OUTPUT: join(rootOnlyMarkerDir, 'who'),
        },
      },
    },
    { config: { secret } },
  );
}

/** The built `p2` CLI as root, finding the token through P2_TOKEN_FILE. */
function p2(args: string[]) {
  return run(process.execPath, [join(repoRoot, 'apps/client/dist/cli.js'), ...args], {
    env: {
      PATH: process.env.PATH,
      P2_STORE: storeUrl(),
      P2_TOKEN_FILE: bootstrapTokenFile(work),
    },
    timeout: 60_000,
  });
}

async function schedule(podId: string, yaml: string): Promise<void> {
  const file = join(work, 'manifests', `${podId}.yaml`);
  await writeFile(file, yaml);
  await p2(['schedule', file, '--node', node]);
}

/** Writes intent directly (for manifests `p2 schedule` would refuse before the preparer sees them). */
async function putIntent(podId: string, yaml: string): Promise<void> {
  await (store as Store).put(`intent/${node}/${podId}`, yaml);
}

interface PodStatus {
  state: string;
  code?: string;
  error?: string;
  sha?: string;
}

async function statusRaw(podId: string): Promise<string | undefined> {
  const { value } = await (store as Store).get(`status/preparer/${node}/${podId}`);
  return value ? Buffer.from(value.value).toString('utf8') : undefined;
}

async function statusOf(podId: string): Promise<PodStatus | undefined> {
  const raw = await statusRaw(podId);
  return raw ? (JSON.parse(raw) as PodStatus) : undefined;
}

function waitState(podId: string, states: string[], timeoutMs = 60_000): Promise<PodStatus> {
  return waitFor(
    `${podId} to be ${states.join(' or ')}`,
    async () => {
      const status = await statusOf(podId);
      return status && states.includes(status.state) ? status : undefined;
    },
    timeoutMs,
    200,
  );
}

async function realitySha(podId: string): Promise<string | undefined> {
  const { value } = await (store as Store).get(`reality/${node}/${podId}`);
  return value ? parseManifest(value.value).sha() : undefined;
}

function waitRunning(podId: string, yaml: string, timeoutMs = 60_000): Promise<true> {
  const want = parseManifest(new TextEncoder().encode(yaml)).sha();
  return waitFor(
    `${podId} to run the manifest scheduled`,
    async () => {
      const status = await statusOf(podId);
      return (
        (await realitySha(podId)) === want && status?.state === 'running' && status.sha === want
      );
    },
    timeoutMs,
    200,
  );
}

// ---------------------------------------------------------------------------------------------
// Host inspection.

async function supervisedPid(service: string): Promise<number | undefined> {
  const text = await readFile(join(services(), service, 'supervise', 'pid'), 'utf8').catch(
    () => '',
  );
  const pid = Number(text.trim());
  return pid > 0 ? pid : undefined;
}

interface ProcInfo {
  pid: number;
  uids: number[];
  cmdline: string;
  cgroups: string;
}

async function processes(): Promise<ProcInfo[]> {
  const out: ProcInfo[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = await readFile(`/proc/${name}/status`, 'utf8');
      const uids = (status.match(/^Uid:\s+(.*)$/m)?.[1] ?? '').trim().split(/\s+/).map(Number);
      const cmdline = (await readFile(`/proc/${name}/cmdline`, 'utf8'))
        .split('\0')
        .join(' ')
        .trim();
      const cgroups = await readFile(`/proc/${name}/cgroup`, 'utf8');
      out.push({ pid: Number(name), uids, cmdline, cgroups });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** In one of the pod's cgroups: P2's flat `<pod>__<launchable>`, below the host's cgroup parent. */
const inPodCgroup = (p: ProcInfo, pod: string) => p.cgroups.includes(`/${node}/${pod}__`);

/**
 * Every process in the pod's cgroup runs as the pod's uid (real, effective, saved, fs). The only
 * root processes allowed there are p2's own, on their way to dropping privileges: the `run`
 * script's shell and the lifecycle scripts' `sh -c`, which join the cgroup before `setpriv`.
 */
async function podProcesses(pod: string, uid: number): Promise<ProcInfo[]> {
  const mine = (await processes()).filter((p) => inPodCgroup(p, pod));
  const offenders = mine.filter(
    (p) =>
      p.uids.some((u) => u !== uid) &&
      !(
        p.uids.every((u) => u === 0) &&
        /^(\/bin\/sh (\.\/run|-c echo)|setpriv |setsid setpriv )/.test(p.cmdline)
      ),
  );
  expect(offenders.map((p) => `${p.pid} uids=${p.uids} ${p.cmdline}`)).toEqual([]);
  return mine;
}

async function results(name: string): Promise<string[]> {
  const text = await readFile(join(home(evil), 'data', 'results', name), 'utf8');
  return text.trim().split('\n');
}

/** Every recorded run of the attack failed, with one of the expected errors. */
async function expectBlocked(name: string, why = /Permission denied|Operation not permitted/) {
  const lines = await results(name);
  expect(lines.length, `attack ${name} ran`).toBeGreaterThan(0);
  for (const line of lines) {
    expect(line, `attack ${name}`).toMatch(/^blocked:/);
    expect(line, `attack ${name}`).toMatch(why);
  }
}

async function canaryState(): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (path: string): Promise<void> => {
    const info = await lstat(path);
    hash.update(`${path} ${info.mode} ${info.uid} ${info.gid} ${info.size}\n`);
    if (info.isDirectory())
      for (const name of (await readdir(path)).sort()) await walk(join(path, name));
    else if (info.isFile()) hash.update(await readFile(path));
  };
  await walk(canaryDir);
  await walk(canaryFile);
  return hash.digest('hex');
}

async function expectCanaryIntact(): Promise<void> {
  expect(await canaryState()).toBe(canaryDigest);
  expect(await readdir(canaryDir)).toEqual(['secret']);
  const info = await lstat(canaryFile);
  expect([info.isFile(), info.uid, info.mode & 0o777]).toEqual([true, 0, 0o644]);
}

async function serviceNames(): Promise<string[]> {
  return (await readdir(services()).catch(() => [] as string[])).sort();
}

async function preparerLog(): Promise<string> {
  return readFile(
    join(services(), serviceOf('p2-preparer', 'preparer'), 'log/main/current'),
    'utf8',
  ).catch(() => '');
}

// ---------------------------------------------------------------------------------------------

const allPods = () => [
  evil,
  benign,
  after,
  squatter,
  `p2t-grab-${id}`,
  ...Object.values(refused),
  ...Object.values(badIds),
  ...Object.values(badLocations),
];

beforeAll(async () => {
  expect(pcprofile, "glibc's libpcprofile.so (libc6)").toBeDefined();
  work = await tempDir('e2e-hostile');
  await chmod(work, 0o755);
  await mkdir(join(work, 'manifests'));
  kvPort = await freePort();
  statusPort = await freePort();

  canaryDir = join(work, 'canary');
  await mkdir(canaryDir, { mode: 0o755 });
  await writeFile(join(canaryDir, 'secret'), 'root canary: must never change\n', { mode: 0o644 });
  canaryFile = join(work, 'canary-file');
  await writeFile(canaryFile, 'id: p2t-canary\nrun_as: p2t-canary\n', { mode: 0o644 });
  canaryDigest = await canaryState();
  rootOnlyMarkerDir = join(work, 'pcprofile-root');
  await mkdir(rootOnlyMarkerDir, { mode: 0o755 });
  escapeTarget = join(dirname(work), 'x');
  escapeTargetExisted = existsSync(escapeTarget);

  const boot = await runBootstrap(work, { node, kvPort, statusPort, kvUser });
  expect(boot.pods.map((p) => p.action)).toEqual(['installed', 'installed']);
  token = (await readTokenFile(bootstrapTokenFile(work), {
    rootOwned: true,
    private: true,
  })) as string;
  store = createStore(storeUrl(), { token });
  preparerPidAtSchedule = (await supervisedPid(serviceOf('p2-preparer', 'preparer'))) ?? 0;

  // Artifacts go in the bootstrap's artifact dir (also an allowed local dir) and are served by HTTP.
  const src = join(work, 'src');
  await writeSource(join(src, 'evil'), {
    'bin/launch': hostileLaunch,
    'bin/enable': hostileEnable,
    'bin/disable': hostileDisable,
  });
  await mkdir(join(src, 'evil', 'tools'));
  await copyFile('/usr/bin/id', join(src, 'evil', 'tools', 'suid-id'));
  await chmod(join(src, 'evil', 'tools', 'suid-id'), 0o4755);
  await writeSource(join(src, 'benign'), { 'bin/launch': benignLaunch });
  await writeSource(join(src, 'squat'), { 'bin/launch': squatLaunch, 'squat.mjs': squatScript });
  const artifactDir = join(work, 'artifacts');
  evilV1 = await buildArtifact(join(src, 'evil'), artifactDir, 'evil', `${id}-v1`);
  evilV2 = await buildArtifact(join(src, 'evil'), artifactDir, 'evil', `${id}-v2`);
  benignArtifact = await buildArtifact(join(src, 'benign'), artifactDir, 'benign', id);
  squatArtifact = await buildArtifact(join(src, 'squat'), artifactDir, 'squat', id);
  artifacts = await serveDirectory(artifactDir);

  await schedule(benign, benignManifest());
  await waitRunning(benign, benignManifest());
  benignUid = (await findUser(benign))?.uid ?? -1;
  await schedule(evil, hostileManifest(evilV1));
  await waitRunning(evil, hostileManifest(evilV1));
  evilUid = (await findUser(evil))?.uid ?? -1;
  await waitFor('the hostile pod to attack three times', async () =>
    existsSync(join(home(evil), 'data', 'done-3')),
  );
}, 180_000);

afterAll(async () => {
  if (store) {
    // Unschedule everything left, give the preparer a moment to uninstall, then tear down.
    for (const pod of allPods()) await store.delete(`intent/${node}/${pod}`).catch(() => undefined);
    await waitFor(
      'pods to be uninstalled',
      async () =>
        (await serviceNames()).every(
          (s) => s.startsWith('p2-kv-server') || s.startsWith('p2-preparer'),
        ),
      30_000,
    ).catch(() => undefined);
    await store.close();
  }
  await artifacts?.close();
  if (!work) return;
  await teardownBootstrappedHost(work, { node, users: [kvUser, ...allPods()] });
  for (const p of await processes())
    if (p.cmdline === `sleep ${sleeper}` || p.cmdline === `sleep ${daemonSleeper}`)
      process.kill(p.pid, 'SIGKILL');
}, 120_000);

describe('a hostile pod on a quick-start host', () => {
  it('1. cannot add LD_PRELOAD to its env dirs; the manifest’s LD_PRELOAD never reaches a root process, across restarts', async () => {
    await expectBlocked('env-pod-preload');
    await expectBlocked('env-launchable-preload');
    await expectBlocked('env-pod-replace', /Permission denied|Operation not permitted|File exists/);
    // runsv ran ./run three times; every run was the pod's user, with the manifest's LD_PRELOAD.
    const ids = (await readFile(join(home(evil), 'data', 'ids'), 'utf8')).trim().split('\n');
    expect(ids.length).toBeGreaterThanOrEqual(3);
    for (const line of ids) expect(line).toMatch(new RegExp(`uid=${evilUid} gid=\\d+ `));
    for (const line of ids) expect(line).toContain(`preload=${pcprofile}`);
    // libpcprofile created its file as the first process that loaded it: the pod's user.
    const who = await stat(join(home(evil), 'data', 'who'));
    expect(who.uid).toBe(evilUid);
    // The neighbour's marker lives where only root may create files: it must not exist, although
    // the neighbour's own process has the library loaded.
    const benignPid = await supervisedPid(serviceOf(benign));
    expect(await readFile(`/proc/${benignPid}/maps`, 'utf8')).toContain('libpcprofile.so');
    expect(existsSync(join(rootOnlyMarkerDir, 'who'))).toBe(false);
    // bin/enable ran as the pod's user with the pod's env (LD_PRELOAD included), not as root.
    const lifecycle = await readFile(join(home(evil), 'data', 'lifecycle'), 'utf8');
    expect(lifecycle).toContain(`enable uid=${evilUid} preload=${pcprofile}`);
    await podProcesses(evil, evilUid);
    await podProcesses(benign, benignUid);
  });

  it('2. cannot write intent from inside the pod, and the run_as policy refuses root, nobody, daemon and another pod’s user', async () => {
    expect((await results('store-put-code')).every((c) => c === '403')).toBe(true);
    expect((await results('store-read-code')).every((c) => c === '403')).toBe(true);
    await expectBlocked('read-token');
    expect((await (store as Store).get(`intent/${node}/p2t-grab-${id}`)).value).toBeUndefined();

    // An operator (with the token) asks for accounts the policy refuses.
    const location = urlOf(benignArtifact);
    const asUser: Array<[string, string]> = [
      [refused.root, 'root'],
      [refused.nobody, 'nobody'],
      [refused.daemon, 'daemon'],
      [refused.evilUser, evil],
    ];
    for (const [pod, user] of asUser)
      await putIntent(pod, manifestYaml(pod, { app: { location } }, { runAs: user }));
    for (const [pod, user] of asUser) {
      const status = await waitState(pod, ['unauthorized', 'running', 'failed'], 30_000);
      expect([pod, user, status.state, status.code]).toEqual([
        pod,
        user,
        'unauthorized',
        'P2_PODS_RUN_AS_REFUSED',
      ]);
      expect(existsSync(home(pod))).toBe(false);
      expect((await serviceNames()).filter((s) => s.startsWith(`${pod}__`))).toEqual([]);
      expect((await (store as Store).get(`reality/${node}/${pod}`)).value).toBeUndefined();
    }
    // Nothing runs as root in any pod's cgroup but p2-preparer (the one root pod bootstrap allows).
    const rootInPods = (await processes()).filter(
      (p) =>
        p.cgroups.includes(`/${node}/`) &&
        !p.cgroups.includes(`/${node}/p2-preparer__`) &&
        p.uids.includes(0) &&
        !/^(\/bin\/sh (\.\/run|-c echo)|setpriv |setsid setpriv )/.test(p.cmdline),
    );
    expect(rootInPods.map((p) => p.cmdline)).toEqual([]);
    // The refused pod's user was not touched; the hostile pod still runs as itself.
    await podProcesses(evil, evilUid);
    for (const [pod] of asUser) await (store as Store).delete(`intent/${node}/${pod}`);
  });

  it('3. cannot replace anything in its home that root reads, links, runs or deletes', async () => {
    for (const entry of [
      'config',
      'env',
      'app',
      'app-installs',
      'app-current',
      'app-last',
      'app-env',
    ])
      await expectBlocked(`link-${entry}`, /Permission denied|Operation not permitted|File exists/);
    await expectBlocked('link-current_manifest.yaml', /Permission denied|File exists/);
    await expectBlocked('link-new-launchable');
    await expectBlocked('append-manifest');
    await expectBlocked('fifo-manifest');
    await expectBlocked('rewrite-disable');
    await expectBlocked('chmod-disable');
    await expectBlocked('new-install');
    await expectBlocked('pod-root-plant');
    await expectBlocked('chmod-home');
    // The home is as root laid it out.
    const h = home(evil);
    for (const [path, uid, mode] of [
      [h, 0, 0o755],
      [join(h, 'config'), 0, 0o755],
      [join(h, 'env'), 0, 0o755],
      [join(h, 'app'), 0, 0o755],
      [join(h, 'app', 'installs'), 0, 0o755],
      [join(h, 'current_manifest.yaml'), 0, 0o600],
      [join(h, 'data'), evilUid, 0o700],
    ] as const) {
      const info = await lstat(path);
      expect([path, info.uid, info.mode & 0o7777]).toEqual([path, uid, mode]);
    }
    expect((await lstat(join(h, 'current_manifest.yaml'))).isFile()).toBe(true);
    expect((await lstat(join(h, 'app', 'current'))).isSymbolicLink()).toBe(true);
    expect(await readFile(join(h, 'current_manifest.yaml'), 'utf8')).toBe(hostileManifest(evilV1));
    await expectCanaryIntact();
  });

  it('3b. cannot touch its supervision, its cgroup, the preparer, or gain root from a setuid file in its artifact', async () => {
    await expectBlocked('service-control');
    await expectBlocked('service-run');
    await expectBlocked('service-down');
    await expectBlocked('preparer-control');
    await expectBlocked('preparer-run');
    await expectBlocked('service-new');
    await expectBlocked('preparer-signal');
    await expectBlocked('preparer-config');
    await expectBlocked('cgroup-escape', /.*/);
    await expectBlocked('cgroup-limit', /.*/);
    // Extraction strips setuid: the copy of id runs with the pod's uid.
    for (const line of await results('suid-euid')) expect(line).toBe(`${evilUid} mode=755`);
    // Still in its own cgroups (every controller p2 set up), all processes the pod's.
    const mine = await podProcesses(evil, evilUid);
    expect(mine.length).toBeGreaterThan(0);
    expect(existsSync(join(services(), `p2t-planted-${node}`))).toBe(false);
  });

  it('5. a launchable id with "..", a reserved one, and a pod id with "__" are reported invalid and touch no path', async () => {
    const location = urlOf(benignArtifact);
    const before = await readdir(pods());
    await putIntent(
      badIds.dotdotLaunchable,
      manifestYaml(badIds.dotdotLaunchable, { '../../../x': { location } }),
    );
    await putIntent(
      badIds.doubleUnderscore,
      manifestYaml(badIds.doubleUnderscore, { app: { location } }),
    );
    await putIntent(
      badIds.reservedLaunchable,
      manifestYaml(badIds.reservedLaunchable, { config: { location } }),
    );
    for (const pod of Object.values(badIds)) {
      const status = await waitState(pod, ['invalid', 'unauthorized', 'failed', 'running'], 30_000);
      expect([pod, status.state]).toEqual([pod, 'invalid']);
      expect(existsSync(home(pod))).toBe(false);
      expect(await findUser(pod).catch(() => undefined)).toBeUndefined();
      expect((await serviceNames()).filter((s) => s.startsWith(pod))).toEqual([]);
    }
    expect(await readdir(pods())).toEqual(before);
    expect(existsSync(escapeTarget)).toBe(escapeTargetExisted);
    expect(existsSync(join(work, 'x'))).toBe(false);
    for (const pod of Object.values(badIds)) await (store as Store).delete(`intent/${node}/${pod}`);
  });

  it('6. local locations outside the artifact dir, devices and FIFOs are refused quickly, and never echoed', async () => {
    const fifo = join(work, 'artifacts', `digest-${id}.fifo`);
    await run('mkfifo', [fifo]);
    const location = urlOf(benignArtifact);
    const started = Date.now();
    await putIntent(
      badLocations.shadowDigest,
      manifestYaml(badLocations.shadowDigest, {
        app: { location, digestLocation: 'file:///etc/shadow' },
      }),
    );
    await putIntent(
      badLocations.shadowArtifact,
      manifestYaml(badLocations.shadowArtifact, { app: { location: 'file:///etc/shadow' } }),
    );
    await putIntent(
      badLocations.devZero,
      manifestYaml(badLocations.devZero, { app: { location: '/dev/zero' } }),
    );
    await putIntent(
      badLocations.fifoDigest,
      manifestYaml(badLocations.fifoDigest, {
        app: { location, digestLocation: `file://${fifo}` },
      }),
    );
    // Meanwhile an ordinary pod deploys: no worker is stuck on a FIFO or an endless device.
    const afterYaml = manifestYaml(after, { app: { location } });
    await schedule(after, afterYaml);
    await waitRunning(after, afterYaml, 30_000);
    const states: Record<string, PodStatus> = {};
    for (const pod of Object.values(badLocations))
      states[pod] = await waitState(pod, ['failed', 'invalid', 'unauthorized', 'running'], 30_000);
    expect(Date.now() - started).toBeLessThan(30_000);
    for (const [pod, status] of Object.entries(states)) {
      expect([pod, status.state]).toEqual([pod, 'failed']);
      expect((await (store as Store).get(`reality/${node}/${pod}`)).value).toBeUndefined();
    }
    // No line of /etc/shadow (nor any password hash in it) in a status record or the preparer's log.
    const shadowLines = (await readFile('/etc/shadow', 'utf8')).split('\n').filter(Boolean);
    const hashes = shadowLines.map((l) => l.split(':')[1] ?? '').filter((h) => h.startsWith('$'));
    const published = (
      await Promise.all(Object.values(badLocations).map((pod) => statusRaw(pod)))
    ).join('\n');
    const log = await preparerLog();
    expect(log.length).toBeGreaterThan(0);
    for (const line of shadowLines) {
      expect(published.includes(line), 'a line of /etc/shadow in a status record').toBe(false);
      expect(log.includes(line), 'a line of /etc/shadow in the preparer log').toBe(false);
    }
    for (const hash of hashes) {
      expect(published.includes(hash)).toBe(false);
      expect(log.includes(hash)).toBe(false);
    }
    // The FIFO was never opened for reading by a blocked preparer: the host still deploys (above).
    expect((await lstat(fifo)).isFIFO()).toBe(true);
    for (const pod of Object.values(badLocations))
      await (store as Store).delete(`intent/${node}/${pod}`);
  });

  it('7. what bin/enable (and bin/launch) leave behind runs as the pod’s user, in the pod’s cgroup', async () => {
    for (const n of [sleeper, daemonSleeper]) {
      const found = await waitFor(`sleep ${n}`, async () => {
        const matches = (await processes()).filter((p) => p.cmdline === `sleep ${n}`);
        return matches.length > 0 ? matches : undefined;
      });
      for (const p of found) {
        expect([n, p.uids]).toEqual([n, [evilUid, evilUid, evilUid, evilUid]]);
        expect(inPodCgroup(p, evil), `sleep ${n} in ${p.cgroups}`).toBe(true);
      }
    }
  });

  it('8. cannot read another pod’s config, env, manifest, data, log or process environment', async () => {
    for (const attack of [
      'read-other-config',
      'read-other-pod-env',
      'read-other-launchable-env',
      'read-other-manifest',
      'read-other-data',
      'read-other-log',
      'read-other-environ',
    ])
      await expectBlocked(attack);
    const everything = (
      await Promise.all(
        (
          await readdir(join(home(evil), 'data', 'results'))
        ).map((f) => readFile(join(home(evil), 'data', 'results', f), 'utf8')),
      )
    ).join('\n');
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain(envSecret);
    expect(everything).not.toContain(logSecret);
  });

  it('3c. after an update, a preparer restart and its bin/disable, the canary is untouched and nothing ran as root', async () => {
    // An update: halt (bin/disable as the pod), install v2, launch; the attacks run again.
    const runsBefore = Number(await readFile(join(home(evil), 'data', 'runs'), 'utf8'));
    await schedule(evil, hostileManifest(evilV2));
    await waitRunning(evil, hostileManifest(evilV2));
    await waitFor('the attacks to run on the new version', async () =>
      existsSync(join(home(evil), 'data', `done-${runsBefore + 1}`)),
    );
    const lifecycle = await readFile(join(home(evil), 'data', 'lifecycle'), 'utf8');
    expect(lifecycle).toContain(`disable uid=${evilUid}`);
    expect(lifecycle).not.toMatch(/uid=0\b/);
    await podProcesses(evil, evilUid);

    // The preparer dies; runit starts it again; it rebuilds its view from the (root-owned) disk.
    const preparerService = serviceOf('p2-preparer', 'preparer');
    const oldPid = (await supervisedPid(preparerService)) as number;
    process.kill(oldPid, 'SIGKILL');
    await waitFor(
      'the preparer to be back',
      async () => {
        const pid = await supervisedPid(preparerService);
        if (!pid || pid === oldPid) return false;
        const text = await fetch(`http://127.0.0.1:${statusPort}/_status`).then(
          (r) => r.text(),
          () => undefined,
        );
        return text === 'p2-preparer OK';
      },
      60_000,
    );
    await waitRunning(evil, hostileManifest(evilV2));
    // Everything the attacks tried, again on the new version: still blocked.
    for (const attack of [
      'env-pod-preload',
      'env-launchable-preload',
      'append-manifest',
      'fifo-manifest',
      'rewrite-disable',
      'service-run',
      'preparer-run',
    ])
      await expectBlocked(attack);
    expect((await results('store-put-code')).every((c) => c === '403')).toBe(true);
    expect((await stat(join(home(evil), 'data', 'who'))).uid).toBe(evilUid);
    expect(existsSync(join(rootOnlyMarkerDir, 'who'))).toBe(false);
    await podProcesses(evil, evilUid);
    await expectCanaryIntact();
  });

  it('4. links it planted in its data dir do not lead uninstall out of the pod home', async () => {
    expect((await lstat(join(home(evil), 'data', 'link-dir'))).isSymbolicLink()).toBe(true);
    expect(
      (await lstat(join(home(evil), 'data', 'nest', 'deeper', 'link-dir'))).isSymbolicLink(),
    ).toBe(true);
    await p2(['unschedule', evil, '--node', node]);
    await p2(['unschedule', benign, '--node', node]);
    await p2(['unschedule', after, '--node', node]);
    for (const pod of [evil, benign, after])
      await waitFor(`${pod} to be uninstalled`, async () => !existsSync(home(pod)), 60_000);
    await expectCanaryIntact();
    expect(existsSync(join(rootOnlyMarkerDir, 'who'))).toBe(false);
    await waitFor('only the store and the preparer to be supervised', async () =>
      (await serviceNames()).every((s) => s.startsWith('p2-') || s.startsWith('.')),
    );
  });

  it('7b. nothing the pod started survives its uninstall', async () => {
    await waitFor('the pod’s processes to be gone', async () => {
      const left = (await processes()).filter(
        (p) =>
          p.cmdline === `sleep ${sleeper}` ||
          p.cmdline === `sleep ${daemonSleeper}` ||
          inPodCgroup(p, evil) ||
          p.uids.includes(evilUid),
      );
      return left.length === 0;
    });
    await expectCanaryIntact();
  });

  it('9. cannot take the store’s port while the store restarts and collect the preparer’s token', async () => {
    const yaml = manifestYaml(squatter, {
      app: {
        location: urlOf(squatArtifact),
        env: { ATTACK_KV_PORT: String(kvPort), ATTACK_NODE_BIN: process.execPath },
      },
    });
    await schedule(squatter, yaml);
    await waitRunning(squatter, yaml);
    const data = join(home(squatter), 'data');
    await waitFor('the squatter to wait for the port', async () =>
      existsSync(join(data, 'squat-started')),
    );
    // The store crashes (or is upgraded); runit starts it again.
    const kvService = serviceOf('p2-kv-server', 'kv-server');
    const kvPid = (await supervisedPid(kvService)) as number;
    process.kill(kvPid, 'SIGKILL');
    // Whoever got the port, the store must be back within ~20 s. Probed without the token over
    // pinned HTTPS (the real store answers 403; the squatter cannot present its certificate).
    const anonymous = createStore(storeUrl());
    try {
      await waitFor(
        'the store to be back',
        async () => {
          const pid = await supervisedPid(kvService);
          if (!pid || pid === kvPid) return false;
          // A squatter may accept and never answer: each probe gets 1 s.
          const error = await Promise.race([
            anonymous.keys('intent/').then(
              () => undefined,
              (e: unknown) => e as { code?: string },
            ),
            new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 1000)),
          ]);
          return error?.code === 'P2_KV_PERMISSION_DENIED';
        },
        40_000,
        250,
      );
    } finally {
      await anonymous.close();
    }
    expect((await (store as Store).keys(`intent/${node}/`)).value.length).toBeGreaterThan(0);
    const requests = await readFile(join(data, 'squat-requests'), 'latin1').catch(() => '');
    const bound = existsSync(join(data, 'squat-bound'));
    // What the squatter was sent (request lines and user agents only, never the token).
    const seen = [
      ...new Set(
        requests.split('\r\n').filter((l) => /^(GET|PUT|POST|DELETE) |^user-agent:/i.test(l)),
      ),
    ].slice(0, 6);
    expect(
      requests.includes(token),
      `the store token was sent to a pod listening on the store port (${seen.join(' | ')}); with it the pod can write intent for p2-preparer, which runs as root`,
    ).toBe(false);
    // A pod can still take the port for a moment (one network namespace for all pods: it could take
    // any port); what it must never get is the token. Recorded, not asserted.
    void bound;
    await p2(['unschedule', squatter, '--node', node]);
    await waitFor(`${squatter} to be uninstalled`, async () => !existsSync(home(squatter)), 60_000);
  });
});
