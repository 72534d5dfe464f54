// Sustained throughput: the highest offered rate of the simulator's whole mix (activity with
// purchases, inventory counts and restocks) that the processors keep up with. The mix is sent
// with ack STORED in 500-event batches from 2 clients, paced at a fixed rate (open loop: a
// client that falls behind its schedule sends at once, and a client more than 1 s behind means
// the rate was not taken); GET /ready is polled every 250 ms, and a rate keeps up when the
// oldest event any processor has waiting is always younger than 1 s during the measurement
// window (BENCH_SUSTAINED_SECONDS, default 30). The search starts at 2,000 events/s, doubles
// until a rate fails, then bisects 3 steps, within about 6 minutes in all. Every step has a
// fresh database and server, so that history does not accumulate across steps. The baseline is
// bare unnest INSERT of the same activity rows from 2 connections (as in batched-ingest).
import {
  ingest,
  processorLag,
  processorsCaughtUp,
  RECORD_ACTIVITY_STORED,
  RECORD_INVENTORY,
  RECORD_INVENTORY_STORED,
  type Result,
  type Scenario,
  scratchDatabase,
  sleep,
  startServer,
} from '../lib.js';
import { bareBatchRate } from './ingest-rows.js';
import { activityBatches, type Mutation, mixedMutations, trafficMix } from './traffic.js';

const SIZE = 500;
const CLIENTS = 2;
const SECONDS = Number(process.env.BENCH_SUSTAINED_SECONDS ?? 30);
const WARM_UP_SECONDS = 3;
const START_RATE = Number(process.env.BENCH_SUSTAINED_START ?? 2000);
const BUDGET_SECONDS = Number(process.env.BENCH_SUSTAINED_BUDGET_SECONDS ?? 360);
const BARE_SECONDS = Number(process.env.BENCH_SECONDS ?? 12);
const POLL_MS = 250;
const MAX_LAG_SECONDS = 1;
/** A client this far behind its schedule did not take the offered rate. */
const BEHIND_LIMIT_MS = 1000;
/** Set-up, catch-up and stop of one step, beyond its warm-up and window (for the time budget). */
const STEP_OVERHEAD_SECONDS = 12;

type Step = {
  rate: number;
  keptUp: boolean;
  /** Highest lag seen in the window, in seconds and in events. */
  maxLagSeconds: number;
  maxLagEvents: number;
  /** Events the server accepted per second, from the first send to the last answer (warm-up included). */
  achieved: number;
  why: string;
};

export const sustained: Scenario = {
  name: 'sustained',
  title: 'sustained throughput',
  async run(): Promise<Result[]> {
    const started = performance.now();
    const left = () => BUDGET_SECONDS - (performance.now() - started) / 1000;

    const baseDb = await scratchDatabase();
    let bare: number;
    try {
      bare = await bareBatchRate(
        baseDb,
        activityBatches(600, SIZE, `sb-${Date.now().toString(36)}`),
        CLIENTS,
        BARE_SECONDS,
      );
    } finally {
      await baseDb.drop();
    }

    const steps: Step[] = [];
    const stepCost = WARM_UP_SECONDS + SECONDS + STEP_OVERHEAD_SECONDS;
    let best = 0; // highest rate that kept up
    let worst = Number.POSITIVE_INFINITY; // lowest rate that did not
    const run = async (rate: number) => {
      const step = await runStep(rate);
      steps.push(step);
      if (step.keptUp) best = Math.max(best, rate);
      else worst = Math.min(worst, rate);
      return step.keptUp;
    };
    // Doubling (or, when the start fails, halving) until the boundary is bracketed.
    for (let rate = START_RATE; left() > stepCost; ) {
      const kept = await run(rate);
      if (kept && worst === Number.POSITIVE_INFINITY) rate *= 2;
      else if (!kept && best === 0 && rate > 250) rate = Math.round(rate / 2);
      else break;
    }
    for (let i = 0; i < 3 && best > 0 && worst < Number.POSITIVE_INFINITY && left() > stepCost; i++) {
      const mid = Math.round((best + worst) / 2 / 50) * 50;
      if (mid <= best || mid >= worst) break;
      await run(mid);
    }

    const ratio = best / bare;
    const describe = (s: Step) =>
      `${s.rate.toLocaleString('en-US')}/s ${s.keptUp ? 'kept up' : `NOT (${s.why})`}: max lag ${s.maxLagSeconds.toFixed(2)} s / ${s.maxLagEvents} events, ${Math.round(s.achieved).toLocaleString('en-US')} accepted/s`;
    return [
      {
        scenario: 'sustained throughput',
        figure: `events/s of the mix kept up with (lag < ${MAX_LAG_SECONDS} s for ${SECONDS} s), ack STORED, 500-event batches, 2 clients`,
        value: best,
        unit: 'events/s',
        baselineLabel: 'bare pg unnest INSERT',
        baseline: bare,
        ratio,
        target: '≥ 0.15×',
        met: ratio >= 0.15,
        notes: `${steps.map(describe).join('; ')}${worst === Number.POSITIVE_INFINITY ? '; no rate failed within the time budget' : ''}`,
      },
    ];
  },
};

async function runStep(rate: number): Promise<Step> {
  const db = await scratchDatabase();
  const server = await startServer(db.url);
  try {
    const mix = trafficMix({ runId: `su-${rate}-${Date.now().toString(36)}`, size: SIZE });
    const opening = mix.openingStock();
    for (let i = 0; i < opening.length; i += SIZE)
      await ingest(server.url, RECORD_INVENTORY, opening.slice(i, i + SIZE));
    const mutations = mixedMutations(mix, Math.ceil(rate * (WARM_UP_SECONDS + SECONDS)));
    // When each mutation is due: evenly by events, from t0.
    const dueAt: number[] = [];
    let offered = 0;
    for (const m of mutations) {
      dueAt.push((offered * 1000) / rate);
      offered += m.events.length;
    }
    await processorsCaughtUp(server.url, 60_000);

    const t0 = performance.now();
    const windowStart = t0 + WARM_UP_SECONDS * 1000;
    const windowEnd = windowStart + SECONDS * 1000;
    let stop = false;
    let why = '';
    const fail = (reason: string) => {
      if (!stop) why = reason;
      stop = true;
    };
    let maxLagSeconds = 0;
    let maxLagEvents = 0;
    let accepted = 0;

    const poller = (async () => {
      while (!stop && performance.now() < windowEnd) {
        const asked = performance.now();
        const lag = await processorLag(server.url);
        const at = performance.now();
        if (at >= windowStart) {
          const seconds = Math.max(0, ...lag.map((l) => l.seconds));
          const events = Math.max(0, ...lag.map((l) => l.events));
          maxLagSeconds = Math.max(maxLagSeconds, seconds);
          maxLagEvents = Math.max(maxLagEvents, events);
          if (seconds >= MAX_LAG_SECONDS) {
            const worst = lag.reduce((a, b) => (b.seconds > a.seconds ? b : a));
            fail(
              `${worst.processor}/${worst.log} ${seconds.toFixed(2)} s behind at ${((at - windowStart) / 1000).toFixed(1)} s`,
            );
          }
        }
        await sleep(Math.max(0, POLL_MS - (performance.now() - asked)));
      }
    })();

    const send = (m: Mutation) =>
      ingest(server.url, m.stream === 'activity' ? RECORD_ACTIVITY_STORED : RECORD_INVENTORY_STORED, m.events);
    const clients = Array.from({ length: CLIENTS }, async (_, client) => {
      for (let i = client; i < mutations.length && !stop; i += CLIENTS) {
        const due = t0 + (dueAt[i] as number);
        const now = performance.now();
        if (now < due) await sleep(due - now);
        else if (now - due > BEHIND_LIMIT_MS) {
          fail(`client ${client + 1} ${((now - due) / 1000).toFixed(1)} s behind its schedule`);
          break;
        }
        const report = await send(mutations[i] as Mutation);
        accepted += report.accepted;
      }
    });
    await Promise.all(clients);
    await poller;
    stop = true;
    const elapsed = Math.max(0.001, (performance.now() - t0) / 1000);
    return {
      rate,
      keptUp: why === '',
      maxLagSeconds,
      maxLagEvents,
      achieved: accepted / elapsed,
      why,
    };
  } finally {
    await server.stop();
    await db.drop();
  }
}
