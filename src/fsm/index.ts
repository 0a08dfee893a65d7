/** The replicated cluster state machine: commands, state, apply, snapshot, settings, backups. */
export * from './commands.js';
export * from './state.js';
export * from './apply.js';
export * from './snapshot.js';
export * from './settings.js';
export * from './backup.js';
export { compareVersions } from './versions.js';
