/**
 * The `hapair` command line: every contract command (MISSION.md), talking to
 * a node's HTTP API. Human output by default, `--json` everywhere. Exit codes:
 * 0 ok; 1 the operation was refused or failed (one line on stderr, never a
 * stack trace); 2 usage error.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { LineCounter, parseDocument, stringify } from 'yaml';
import { generateToken, parseTokensFile, tokensFileLine, TokensFileError } from '../auth/tokens.js';
import { ROLES, type Role } from '../auth/roles.js';
import { ApiClient, ApiError, ApiUnreachableError, DEFAULT_API_URL } from './client.js';
import { formatAudit, formatBackups, formatStatus } from './format.js';
import { formatSetupReport, stateDifferences, verifySetup, type SetupReport } from './setup-check.js';
import { VERSION } from '../node/version.js';
import type { NodeInfo, StatusView } from '../api/schemas.js';

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Whether stdout is a terminal (colours). */
  readonly stdoutIsTty: boolean;
  /** For `hapair events`: resolves when the user interrupts (Ctrl-C); only commands that ask install a handler. */
  readonly interrupted?: () => Promise<void>;
}

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** A failure the user can act on, reported as one line and exit 1. */
export class CliError extends Error {
  override name = 'CliError';
}

/** Bad usage that commander cannot see (for example a value combination), exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

interface GlobalOptions {
  api?: string;
  token?: string;
  json?: boolean;
  timeout: number;
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = buildProgram(io, (code) => (exitCode = code));
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    const hasToken = argv.includes('--token') || (io.env['HAPAIR_TOKEN'] ?? '') !== '';
    return reportError(error, io, argv.includes('--json'), hasToken);
  }
}

function reportError(error: unknown, io: CliIo, json: boolean, hasToken: boolean): number {
  if (error instanceof CommanderError) {
    // commander already printed its one-line message (or the help).
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT.ok;
    return EXIT.usage;
  }
  const line = (code: string, message: string): void => {
    const oneLine = message.replace(/\s*\n\s*/g, ' ');
    io.err(json ? `${JSON.stringify({ code, message: oneLine })}\n` : `error: ${oneLine}${code === '' ? '' : ` (${code})`}\n`);
  };
  if (error instanceof UsageError) {
    line('USAGE', error.message);
    return EXIT.usage;
  }
  if (error instanceof ApiError) {
    const hint = error.code === 'UNAUTHENTICATED' && !hasToken ? '; give a token with --token or HAPAIR_TOKEN' : '';
    line(error.code, `${error.message}${hint}`);
    return EXIT.failed;
  }
  if (error instanceof ApiUnreachableError) {
    line('UNREACHABLE', error.message);
    return EXIT.failed;
  }
  // AgentStartError is matched by name: importing the agent here would load it for every command.
  if (error instanceof CliError || error instanceof TokensFileError || (error instanceof Error && error.name === 'AgentStartError')) {
    line('', error.message);
    return EXIT.failed;
  }
  const message = error instanceof Error ? error.message : String(error);
  line('INTERNAL', `unexpected failure: ${message}${io.env['HAPAIR_DEBUG'] ? '' : ' (set HAPAIR_DEBUG=1 for the stack)'}`);
  if (io.env['HAPAIR_DEBUG'] && error instanceof Error && error.stack) io.err(`${error.stack}\n`);
  return EXIT.failed;
}

export function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command('hapair');
  program
    .description('HA manager for firewall pairs: one Raft log, an active-role lease, kernel-held fencing')
    .version(VERSION, '-V, --version')
    .addOption(new Option('--api <url>', `API of any node (env HAPAIR_API; default ${DEFAULT_API_URL})`))
    .addOption(new Option('--token <token>', 'bearer token (env HAPAIR_TOKEN)'))
    .option('--json', 'print JSON instead of text (errors too, on stderr)')
    .addOption(new Option('--timeout <seconds>', 'request timeout').argParser(positiveNumber).default(60))
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .configureHelp({ showGlobalOptions: true })
    .showSuggestionAfterError(true);

  const globals = (cmd: Command): GlobalOptions => cmd.optsWithGlobals<GlobalOptions>();
  const client = (cmd: Command): ApiClient => {
    const g = globals(cmd);
    const api = g.api ?? io.env['HAPAIR_API'] ?? DEFAULT_API_URL;
    const token = g.token ?? io.env['HAPAIR_TOKEN'] ?? null;
    try {
      return new ApiClient({ baseUrl: api, token: token === '' ? null : token, timeoutMs: g.timeout * 1000 });
    } catch {
      throw new UsageError(`--api: not an http(s) URL or host:port: ${JSON.stringify(api)}`);
    }
  };
  const print = (cmd: Command, value: unknown, human: () => string): void => {
    io.out(globals(cmd).json ? `${JSON.stringify(value, null, 2)}\n` : human());
  };
  const style = () => ({ color: io.stdoutIsTty && io.env['NO_COLOR'] === undefined && io.env['TERM'] !== 'dumb' });

  // --- status -----------------------------------------------------------------
  program
    .command('status')
    .description('show the cluster: members, who is active since when and why, epoch, health, versions, lag, conditions')
    .option('--json', 'print the GET /v1/status JSON')
    .option('--linearizable', 'confirm with a quorum first (ReadIndex) instead of reading the local state')
    .action(async (opts: { linearizable?: boolean }, cmd: Command) => {
      const status = await client(cmd).status(opts.linearizable === true);
      print(cmd, status, () => formatStatus(status, style(), Date.now()));
    });

  // --- role -------------------------------------------------------------------
  program
    .command('switchover')
    .description('move the active role; answers once the new active holds it')
    .option('--to <node>', 'the node to make active (default: the other data node)')
    .option('--force', 'skip the health checks on the target (a quorum is still required)')
    .action(async (opts: { to?: string; force?: boolean }, cmd: Command) => {
      const r = await client(cmd).switchover({ ...(opts.to === undefined ? {} : { to: opts.to }), ...(opts.force ? { force: true } : {}) });
      print(cmd, r, () => `switchover done: ${r.active.node} is active (epoch ${r.active.epoch}), previously ${r.previous ?? 'none'}; took ${r.durationMs} ms\n`);
    });

  program
    .command('maintenance')
    .description('put a member in or out of maintenance (a member in maintenance is never made active)')
    .argument('<node>', 'member id')
    .addArgument(new Argument('<state>', 'on or off').choices(['on', 'off']))
    .action(async (node: string, state: 'on' | 'off', _opts: unknown, cmd: Command) => {
      const r = await client(cmd).setMaintenance(node, state === 'on');
      print(cmd, r, () => `${r.id}: maintenance ${r.maintenance ? 'on' : 'off'}\n`);
    });

  // --- config and policy --------------------------------------------------------
  for (const kind of ['config', 'policy'] as const) addDocumentCommands(program, kind, client, print);

  // --- backups ------------------------------------------------------------------
  const backup = program.command('backup').description('committed backups of the settings and policy');
  backup
    .command('create')
    .description('create a backup (a committed entry)')
    .option('--comment <text>', 'why', '')
    .action(async (opts: { comment: string }, cmd: Command) => {
      const b = await client(cmd).createBackup(opts.comment);
      print(cmd, b, () => `backup ${b.id} created (config revision ${b.configRevision}, ${b.sizeBytes} bytes)\n`);
    });
  backup
    .command('list')
    .description('list the backups')
    .action(async (_opts: unknown, cmd: Command) => {
      const list = await client(cmd).listBackups();
      print(cmd, { backups: list }, () => formatBackups(list));
    });
  backup
    .command('export')
    .description('download a backup file')
    .argument('<id>', 'backup id (see backup list)')
    .option('-o, --output <file>', 'where to write it ("-" for stdout; default: the name the server suggests)')
    .option('--overwrite', 'replace an existing file')
    .action(async (id: string, opts: { output?: string; overwrite?: boolean }, cmd: Command) => {
      const file = await client(cmd).exportBackup(id);
      if (opts.output === '-') {
        io.out(file.data.toString('latin1'));
        return;
      }
      const path = opts.output ?? file.fileName;
      try {
        writeFileSync(path, file.data, { flag: opts.overwrite ? 'w' : 'wx', mode: 0o600 });
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw new CliError(code === 'EEXIST' ? `${path} exists (use --overwrite)` : `cannot write ${path} (${code ?? String(error)})`);
      }
      print(cmd, { id, file: path, sizeBytes: file.data.length }, () => `backup ${id} written to ${path} (${file.data.length} bytes)\n`);
    });
  backup
    .command('import')
    .description('upload a backup file (it becomes a new backup; restore it to use it)')
    .argument('<file>', 'a file written by backup export')
    .action(async (file: string, _opts: unknown, cmd: Command) => {
      const b = await client(cmd).importBackup(readInput(file));
      print(cmd, b, () => `imported ${file} as backup ${b.id}\n`);
    });
  backup
    .command('restore')
    .description('restore a backup: its settings and policy become current (update the standby first: R11)')
    .argument('<id>', 'backup id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const r = await client(cmd).restoreBackup(id);
      print(cmd, r, () => `restored backup ${r.restored}: config revision ${r.configRevision}\n`);
    });

  // --- audit and events ------------------------------------------------------------
  program
    .command('audit')
    .description('who changed what, newest first')
    .addOption(new Option('--limit <n>', 'how many entries').argParser(positiveInteger).default(50))
    .action(async (opts: { limit: number }, cmd: Command) => {
      const r = await client(cmd).audit(opts.limit);
      print(cmd, r, () => formatAudit(r.entries));
    });
  program
    .command('clear-flap-damping')
    .description('let automatic moves (failback) happen again after the role moved too often (condition FLAP_DAMPED)')
    .action(async (_opts: unknown, cmd: Command) => {
      const r = await client(cmd).clearFlapDamping();
      print(cmd, r, () => (r.cleared ? 'flap damping cleared: automatic moves are allowed again\n' : 'flap damping was not engaged\n'));
    });
  program
    .command('note')
    .description('commit a note to the audit trail, e.g. hapair note "replaced the cable on fw2"')
    .argument('<text>', 'one line, up to 1024 characters')
    .action(async (text: string, _opts: unknown, cmd: Command) => {
      const r = await client(cmd).addNote(text);
      print(cmd, r, () => `note committed (${r.count} in all)\n`);
    });
  program
    .command('events')
    .description('follow the cluster events (role and leader changes, monitors, conditions) until Ctrl-C')
    .action(async (_opts: unknown, cmd: Command) => {
      const json = globals(cmd).json === true;
      const abort = new AbortController();
      void io.interrupted?.().then(() => abort.abort());
      await client(cmd).events((type, data) => {
        io.out(json ? `${data}\n` : `${new Date().toISOString()} ${type.padEnd(9)} ${data}\n`);
      }, abort.signal);
    });

  // --- setup flows -------------------------------------------------------------------
  // Each flow ends with the setup check (R7) and fails, naming every problem, when it does not pass.
  const verifyOptions = (cmd: Command): Command =>
    cmd
      .addOption(
        new Option('--wait <seconds>', 'how long to wait for the nodes to converge (join: also for the new node to hold the state) before the setup check gives up')
          .argParser(positiveNumber)
          .default(30),
      )
      .option('--no-verify', 'skip the setup check at the end (run `hapair verify` later)');
  const runVerify = async (c: ApiClient, opts: { wait: number; verify: boolean }): Promise<SetupReport | null> =>
    opts.verify ? verifySetup(c, opts.wait * 1000) : null;
  /** Prints the flow's result and the setup report; a failed check is exit 1 with the problems on stderr. */
  const finish = (cmd: Command, value: Record<string, unknown>, human: string, report: SetupReport | null): void => {
    print(cmd, { ...value, ...(report === null ? {} : { setupCheck: report }) }, () => `${human}${report === null ? '' : formatSetupReport(report)}`);
    if (report !== null && !report.ok) {
      throw new CliError(`setup check failed: ${report.problems.join('; ')}`);
    }
  };

  verifyOptions(
    program
      .command('init')
      .description(
        'set up a new cluster: with --tokens-file, create an API token (only its hash goes to the file); with ' +
          '--settings, apply the first cluster settings through the node at --api (its agent must run) and run the setup check',
      )
      .option('--tokens-file <file>', 'the tokens file named by api.tokensFile in the node config (created if missing)')
      .option('--name <name>', 'token name, shown in the audit log', 'admin')
      .addOption(new Option('--role <role>', 'token role').choices([...ROLES]).default('admin'))
      .option('--settings <file>', 'cluster settings YAML to apply (with the new token when --tokens-file is given, else with --token)'),
  ).action(async (opts: { tokensFile?: string; name: string; role: Role; settings?: string; wait: number; verify: boolean }, cmd: Command) => {
    if (opts.tokensFile === undefined && opts.settings === undefined) throw new UsageError('give --tokens-file, --settings or both');
    let token: string | null = null;
    if (opts.tokensFile !== undefined) {
      const generated = generateToken();
      addToTokensFile(opts.tokensFile, { name: opts.name, role: opts.role, sha256: generated.sha256 });
      token = generated.token;
    }
    let revision: number | null = null;
    let report: SetupReport | null = null;
    if (opts.settings !== undefined) {
      const settings = readYamlFile(opts.settings);
      // A new token works only once the node at --api has read the tokens file that holds it.
      const api = token === null ? client(cmd) : new ApiClient({ baseUrl: client(cmd).baseUrl, token, timeoutMs: globals(cmd).timeout * 1000 });
      revision = (await api.putConfig(settings, (await api.getConfig()).revision)).revision;
      report = await runVerify(api, opts);
    }
    const lines = [
      ...(token === null
        ? []
        : [
            `token "${opts.name}" (role ${opts.role}) added to ${opts.tokensFile ?? ''}; copy the file to every node.`,
            'The token is shown once, only its hash is stored:',
            '',
            `  export HAPAIR_TOKEN=${token}`,
            '',
          ]),
      ...(revision === null ? [] : [`settings from ${opts.settings ?? ''} applied: config revision ${revision}`]),
      '',
    ];
    finish(
      cmd,
      {
        ...(token === null ? {} : { name: opts.name, role: opts.role, token, tokensFile: opts.tokensFile }),
        configRevision: revision,
      },
      lines.join('\n'),
      report,
    );
  });

  verifyOptions(
    program
      .command('join')
      .description(
        'add a node to the running cluster at --api: its agent runs with cluster.join listing the members; checks its ' +
          'software version (R5) and cluster name, adds it (it receives the log or a snapshot), waits until it holds the ' +
          'same settings and policy as the leader, then runs the setup check on every node (R7)',
      )
      .requiredOption('--node-api <host:port>', "the new node's API (its api.listen or api.advertise); it tells its id, kind, peer address and version"),
  ).action(async (opts: { nodeApi: string; wait: number; verify: boolean }, cmd: Command) => {
    const c = client(cmd);
    let nodeClient: ApiClient;
    try {
      nodeClient = c.forNode(opts.nodeApi);
    } catch {
      throw new UsageError(`--node-api: not an http(s) URL or host:port: ${JSON.stringify(opts.nodeApi)}`);
    }
    const node = await nodeClient.nodeInfo().catch((error: unknown) => {
      if (error instanceof ApiUnreachableError) throw new CliError(`cannot reach the new node's API: ${error.message} (is its agent running?)`);
      throw error;
    });
    const status = await c.status();
    preflightJoin(node, status);
    const result = await c.join({ id: node.node, kind: node.kind, peer: node.peer, api: node.api, version: node.version });
    // The snapshot or log transfer is done when the new node holds what the leader holds.
    const deadline = performance.now() + opts.wait * 1000;
    let last: string;
    for (;;) {
      try {
        const [mine, leader] = await Promise.all([nodeClient.nodeInfo(), c.status().then((s) => leaderInfo(c, s))]);
        last = sameState(mine, leader);
      } catch (error) {
        last = error instanceof Error ? error.message : String(error);
      }
      if (last === '') break;
      if (performance.now() > deadline) throw new CliError(`${node.node} joined but does not hold the cluster's state after ${opts.wait} s: ${last}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const report = await runVerify(c, opts);
    finish(
      cmd,
      { joined: node.node, members: result.members },
      `${node.node} joined; members: ${result.members.map((m) => `${m.id} (${m.kind})`).join(', ')}\n`,
      report,
    );
  });

  verifyOptions(
    program
      .command('leave')
      .description(
        'remove a node from the cluster (removing the other data node dissolves the pair into a single node), ' +
          'then run the setup check on the nodes that stay (R7)',
      )
      .argument('<node>', 'member id'),
  ).action(async (node: string, opts: { wait: number; verify: boolean }, cmd: Command) => {
    const c = client(cmd);
    const r = await c.leave(node);
    const report = await runVerify(c, opts);
    finish(cmd, { left: node, members: r.members }, `${node} left; members: ${r.members.map((m) => `${m.id} (${m.kind})`).join(', ')}\n`, report);
  });

  program
    .command('verify')
    .description(
      "the setup check (R7): every member is a reachable voter on the same version, holds the leader's settings and " +
        "policy, and each data node maps every VIP's interface to a device its network driver can manage",
    )
    .addOption(
      new Option('--wait <seconds>', 'how long to wait for every node to converge (it answers as soon as the check passes; 0: check once)')
        .argParser(nonNegativeNumber)
        .default(10),
    )
    .action(async (opts: { wait: number }, cmd: Command) => {
      const report = await verifySetup(client(cmd), opts.wait * 1000);
      finish(cmd, {}, '', report);
    });

  // --- processes -----------------------------------------------------------------------
  program
    .command('agent')
    .description('run a node (data or witness) from its YAML config')
    .requiredOption('--config <file>', 'node config file')
    .action(async (opts: { config: string }) => {
      // Compile every function of the agent now, not at its first call, and
      // keep the bytecode of functions that have not run lately: a node's
      // first takeover runs code it has never run (the leader's role pass,
      // the VIP hold), and compiling that on the way cost a failback to a
      // freshly started node about 0.5 ms in all (docs/benchmarks.md); V8
      // would otherwise also drop such bytecode again on a standby that has
      // waited a while. The price: about 50 ms more at start and 3-4 MiB.
      setFlagsFromString('--no-lazy');
      setFlagsFromString('--no-flush-bytecode');
      const { runAgent } = await import('../node/agent-main.js');
      await runAgent(opts.config);
    });

  program
    .command('demo')
    .description('two data nodes and a witness on loopback: failover and failback, then clean up')
    .action(async () => {
      const { runDemo } = await import('../demo/demo.js');
      setExit(await runDemo());
    });

  return program;
}

function addDocumentCommands(
  program: Command,
  kind: 'config' | 'policy',
  client: (cmd: Command) => ApiClient,
  print: (cmd: Command, value: unknown, human: () => string) => void,
): void {
  const what = kind === 'config' ? 'cluster settings' : 'security policy';
  const group = program.command(kind).description(`the replicated ${what}`);
  group
    .command('get')
    .description(`print the ${what} as YAML, with its revision in a comment (edit it and apply it)`)
    .option('--linearizable', 'confirm with a quorum first')
    .action(async (opts: { linearizable?: boolean }, cmd: Command) => {
      const c = client(cmd);
      const view = kind === 'config' ? await c.getConfig(opts.linearizable === true) : await c.getPolicy(opts.linearizable === true);
      const doc = 'settings' in view ? view.settings : view.policy;
      print(cmd, view, () => `# hapair ${kind}\n# revision: ${view.revision}\n${stringify(doc)}`);
    });
  group
    .command('apply')
    .description(
      `replace the ${what} with a YAML file. Compare-and-set: If-Match is the revision from --if-match, else the ` +
        `"# revision: N" comment written by \`${kind} get\`, else the current revision; --force skips the check`,
    )
    .requiredOption('-f, --file <file>', 'YAML file')
    .addOption(new Option('--if-match <revision>', 'the revision the file is based on').argParser(nonNegativeInteger))
    .option('--force', 'apply whatever the current revision is')
    .action(async (opts: { file: string; ifMatch?: number; force?: boolean }, cmd: Command) => {
      if (opts.force && opts.ifMatch !== undefined) throw new UsageError('--force and --if-match exclude each other');
      const text = readText(opts.file);
      const doc = parseYaml(text, opts.file);
      const c = client(cmd);
      let ifMatch: number | null = null;
      if (!opts.force) {
        ifMatch = opts.ifMatch ?? revisionComment(text) ?? (kind === 'config' ? await c.getConfig() : await c.getPolicy()).revision;
      }
      const view = await (kind === 'config' ? c.putConfig(doc, ifMatch) : c.putPolicy(doc, ifMatch)).catch((error: unknown) => {
        if (error instanceof ApiError && error.code === 'REVISION_CONFLICT') {
          const hint = `run \`hapair ${kind} get\`, redo your change on it and apply again (or --force to overwrite)`;
          throw new ApiError(error.code, `${error.message}; ${hint}`, error.httpStatus);
        }
        throw error;
      });
      print(cmd, view, () => `${kind} applied: revision ${view.revision}\n`);
    });
}

/**
 * What can be known before adding a node: same cluster name and software
 * version (R5), and a cluster.join that lets it answer whichever member
 * leads while it has no membership yet.
 */
export function preflightJoin(node: NodeInfo, status: StatusView): void {
  const id = node.node;
  if (node.cluster !== status.cluster) {
    throw new CliError(`${id}'s node config names cluster "${node.cluster}", but the cluster at --api is "${status.cluster}"`);
  }
  const versions = [...new Set(status.members.flatMap((m) => (m.version === null || m.id === id ? [] : [m.version])))];
  const other = versions.find((v) => v !== node.version);
  if (other !== undefined) {
    throw new CliError(`${id} runs version ${node.version}; the cluster runs ${versions.join(', ')}: install ${other} on ${id} first (R5) (VERSION_MISMATCH)`);
  }
  const already = status.members.find((m) => m.id === id);
  if (already !== undefined && node.membership !== 'none') return; // a join that stopped half-way: continue it
  if (node.membership !== 'none') {
    throw new CliError(`${id} already belongs to a cluster of its own (its data directory holds a membership): a joining node starts with an empty node.dataDir and cluster.join instead of cluster.bootstrap`);
  }
  const problems: string[] = [];
  for (const m of status.members) {
    if (m.id === id) continue;
    const seed = node.join.find((s) => s.id === m.id);
    if (seed === undefined) problems.push(`add { id: ${m.id}, peer: ${m.peer ?? '?'} }`);
    else if (m.peer !== undefined && seed.peer !== m.peer) problems.push(`${m.id} is at ${m.peer}, not ${seed.peer}`);
  }
  if (problems.length > 0) {
    throw new CliError(
      `${id} could not answer the leader before it is a member: cluster.join in its node config must list every member of the running cluster (${problems.join('; ')}); fix it and restart its agent`,
    );
  }
}

async function leaderInfo(c: ApiClient, status: StatusView): Promise<NodeInfo | null> {
  const api = status.members.find((m) => m.id === status.leader)?.api ?? null;
  return api === null ? null : c.forNode(api).nodeInfo();
}

/** Why `mine` does not hold the leader's state yet ('' when it does). */
function sameState(mine: NodeInfo, leader: NodeInfo | null): string {
  if (leader === null) return 'no leader is known';
  if (mine.membership !== 'voter') return `${mine.node} is not a voter yet`;
  return stateDifferences(mine, leader).join('; ');
}

/** The `# revision: N` comment `config get` writes, from the leading comment block only. */
export function revisionComment(text: string): number | null {
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '') continue;
    if (!trimmed.startsWith('#')) return null;
    const m = /^#\s*revision:\s*(\d+)\s*$/.exec(trimmed);
    if (m?.[1] !== undefined) return Number(m[1]);
  }
  return null;
}

function readText(file: string): string {
  return readInput(file).toString('utf8');
}

function readInput(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(`cannot read ${file}: ${code === 'ENOENT' ? 'file not found' : code ?? String(error)}`);
  }
}

function readYamlFile(file: string): Record<string, unknown> {
  return parseYaml(readText(file), file);
}

function parseYaml(text: string, file: string): Record<string, unknown> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter: lines });
  const first = doc.errors[0];
  if (first !== undefined) {
    const line = first.pos[0] === undefined ? undefined : lines.linePos(first.pos[0]).line;
    throw new CliError(`${file}: invalid YAML${line === undefined ? '' : ` at line ${line}`}: ${first.message}`);
  }
  const value: unknown = doc.toJS();
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CliError(`${file}: must be a YAML mapping (key: value lines), got ${value === null ? 'an empty document' : Array.isArray(value) ? 'a list' : typeof value}`);
  }
  return value as Record<string, unknown>;
}

function addToTokensFile(file: string, entry: { name: string; role: Role; sha256: string }): void {
  let text = existsSync(file) ? readText(file) : '';
  const existing = text.trim() === '' ? [] : parseTokensFile(text, file);
  if (existing.some((e) => e.name === entry.name)) {
    throw new CliError(`${file}: a token named "${entry.name}" exists already (choose another --name)`);
  }
  if (existing.length === 0) text = 'tokens:\n';
  else if (!text.endsWith('\n')) text += '\n';
  const next = `${text}${tokensFileLine(entry)}\n`;
  parseTokensFile(next, file); // the file we write must load
  try {
    writeFileSync(file, next, { mode: 0o600 });
  } catch (error) {
    throw new CliError(`cannot write ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number.');
  return n;
}

function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number >= 0.');
  return n;
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer.');
  return n;
}

function nonNegativeInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('must be a revision number.');
  return n;
}
