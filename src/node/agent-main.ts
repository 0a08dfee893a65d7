/** `hapair agent --config FILE`: runs one node until SIGTERM or SIGINT. */
import { ConfigError, loadNodeConfig } from '../config/node-config.js';
import { Agent } from './agent.js';

export async function runAgent(configFile: string): Promise<void> {
  let agent: Agent;
  try {
    agent = new Agent({ config: loadNodeConfig(configFile) });
  } catch (error) {
    if (error instanceof ConfigError) throw new AgentStartError(error.message);
    throw error;
  }
  try {
    await agent.start();
  } catch (error) {
    await agent.stop().catch(() => undefined);
    throw new AgentStartError(error instanceof Error ? error.message : String(error));
  }
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string): void => {
      agent.log.info(`${signal}: stopping`);
      void agent.stop().then(resolve);
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
}

/** A start failure whose message is the whole story (config, data dir, port): printed as one line. */
export class AgentStartError extends Error {
  override name = 'AgentStartError';
}
