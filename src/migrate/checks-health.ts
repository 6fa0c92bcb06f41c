/**
 * The application's health URL after the upgrade: GET until it answers 200, each try bounded by
 * `timeoutMs`, `tries` times `intervalMs` apart (an application restarting onto the new schema
 * needs a moment). Anything but 200 on the last try fails the upgrade.
 */
export async function probeHealth(url: string, options: { tries: number; intervalMs: number; timeoutMs: number; signal?: AbortSignal }): Promise<{ ok: boolean; detail: string }> {
  let last = "";
  for (let attempt = 1; attempt <= options.tries; attempt++) {
    if (options.signal?.aborted) return { ok: false, detail: "interrupted" };
    try {
      const signals = [AbortSignal.timeout(options.timeoutMs), ...(options.signal ? [options.signal] : [])];
      const res = await fetch(url, { signal: AbortSignal.any(signals), redirect: "manual" });
      await res.body?.cancel().catch(() => undefined);
      if (res.status === 200) return { ok: true, detail: `200 after ${attempt} ${attempt === 1 ? "try" : "tries"}` };
      last = `answered ${res.status}`;
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      last = e.name === "TimeoutError" ? `no answer within ${options.timeoutMs} ms` : `unreachable (${e.cause?.code ?? e.message})`;
    }
    if (attempt < options.tries) await new Promise((r) => setTimeout(r, options.intervalMs));
  }
  return { ok: false, detail: `${last} (${options.tries} ${options.tries === 1 ? "try" : "tries"})` };
}
