/** `npm run bench -- NAME`: runs one benchmark and writes bench/results/NAME.json. */
const BENCHES: Record<string, () => Promise<void>> = {
  raft: async () => (await import('./raft.js')).runRaftBench(),
  failover: async () => (await import('./failover.js')).runFailoverBench(),
};

const name = process.argv[2];
const bench = name === undefined ? undefined : BENCHES[name];
if (bench === undefined) {
  process.stderr.write(`usage: npm run bench -- NAME   (one of: ${Object.keys(BENCHES).join(', ')})\n`);
  process.exit(2);
}
await bench();
