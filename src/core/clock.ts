// Time is injected so that tests can pin it (Emmett's getCurrentTime).
export type Clock = { now(): Date };

export const systemClock: Clock = { now: () => new Date() };
