/** The role logic: decide() and its rules, conditions, and their types. */
export * from './types.js';
export * from './decide.js';
export { deriveConditions, flapDampedSentence } from './conditions.js';
export { facts, isReachable, silentTicks, type Facts } from './facts.js';
