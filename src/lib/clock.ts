/**
 * Time is an input. Every service takes `now` (milliseconds since the Unix epoch) from its caller, and the HTTP edge
 * reads it once per request from the injected clock, so tests freeze and advance time instead of sleeping.
 */
export interface Clock {
  nowMilliseconds(): number;
}

export const systemClock: Clock = { nowMilliseconds: () => Date.now() };

/** A clock that only moves when told to; what tests and timeline specifications use. */
export interface ManualClock extends Clock {
  advanceMilliseconds(milliseconds: number): void;
  advanceSeconds(seconds: number): void;
  setMilliseconds(milliseconds: number): void;
}

export function createManualClock(startMilliseconds: number): ManualClock {
  let currentMilliseconds = startMilliseconds;
  return {
    nowMilliseconds: () => currentMilliseconds,
    advanceMilliseconds: (milliseconds) => {
      currentMilliseconds += milliseconds;
    },
    advanceSeconds: (seconds) => {
      currentMilliseconds += seconds * 1000;
    },
    setMilliseconds: (milliseconds) => {
      currentMilliseconds = milliseconds;
    },
  };
}

export function toIsoString(milliseconds: number): string {
  return new Date(milliseconds).toISOString();
}

export function toIsoStringOrNull(milliseconds: number | null): string | null {
  return milliseconds === null ? null : toIsoString(milliseconds);
}
