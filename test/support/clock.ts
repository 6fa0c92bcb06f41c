import { setTimeout as sleep } from "node:timers/promises";

/** Wait until just after a second starts, so processes started now reach their id in the same second. */
export async function alignToSecond(): Promise<void> {
  const ms = Date.now() % 1000;
  await sleep(ms < 50 ? 50 - ms : 1050 - ms);
}
