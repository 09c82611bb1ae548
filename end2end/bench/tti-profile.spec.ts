// Where the time to interactive goes: for a few pages on a Pixel 5 with 4x CPU throttling, the
// timeline of the bundle's requests and the main thread's work by kind, from a Chromium trace.
import { test, devices } from '@playwright/test';
import * as fs from 'node:fs';
import { HYDRATION_PROBE, signedIn } from './common';

type TraceEvent = { name: string; ph: string; ts: number; dur?: number; tid: number; pid: number; cat: string; args?: any };

test('time to interactive, phase by phase', async ({ browser }) => {
  const state = await signedIn(await browser.newContext());
  const rate = Number(process.env.TTI_RATE ?? 4);
  const pages = (process.env.TTI_PAGES ?? '/sign-in,/,/boot-images,/security/users').split(',');
  for (const path of pages) {
    const context = await browser.newContext({ ...devices['Pixel 5'], storageState: state });
    await context.addInitScript(HYDRATION_PROBE);
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Emulation.setCPUThrottlingRate', { rate });
    const events: TraceEvent[] = [];
    cdp.on('Tracing.dataCollected', (e: { value: TraceEvent[] }) => events.push(...e.value));
    await cdp.send('Tracing.start', {
      categories: 'devtools.timeline,v8,v8.wasm,disabled-by-default-devtools.timeline,blink.user_timing,loading',
      transferMode: 'ReportEvents',
    });
    await page.goto(path);
    await page.waitForFunction(() => (window as unknown as { __hydratedAt?: number }).__hydratedAt);
    const timeline = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
      const t0 = nav.responseEnd;
      const r = (n: number) => Math.round(n - t0);
      const resources = (performance.getEntriesByType('resource') as PerformanceResourceTiming[])
        .filter((e) => /\.(js|wasm|css)$/.test(e.name))
        .map((e) => `${e.name.split('/').pop()} ${r(e.startTime)}..${r(e.responseEnd)} (${e.initiatorType})`);
      return {
        domInteractive: r(nav.domInteractive),
        domContentLoaded: r(nav.domContentLoadedEventEnd),
        hydrated: r((window as unknown as { __hydratedAt: number }).__hydratedAt),
        resources,
      };
    });
    const done = new Promise((resolve) => cdp.once('Tracing.tracingComplete', resolve));
    await cdp.send('Tracing.end');
    await done;
    if (process.env.TTI_TRACE) {
      fs.mkdirSync('bench-results', { recursive: true });
      fs.writeFileSync(`bench-results/trace${path.replaceAll('/', '_')}.json`, JSON.stringify({ traceEvents: events }));
    }
    // The renderer's main thread: the thread of the CrRendererMain name event.
    const main = events.find((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain');
    const byName = new Map<string, number>();
    for (const e of events) {
      if (!main || e.tid !== main.tid || e.pid !== main.pid || e.ph !== 'X' || !e.dur) continue;
      byName.set(e.name, (byName.get(e.name) ?? 0) + e.dur / 1000);
    }
    const top = [...byName.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25)
      .map(([n, ms]) => `${n}: ${Math.round(ms)} ms`);
    const wasm = events.filter((e) => e.cat.includes('wasm') && e.dur).reduce((m, e) => {
      m.set(e.name, (m.get(e.name) ?? 0) + e.dur! / 1000);
      return m;
    }, new Map<string, number>());
    console.log(JSON.stringify({ path, rate, ...timeline, mainThread: top,
      wasm: [...wasm.entries()].map(([n, ms]) => `${n}: ${Math.round(ms)} ms`) }, null, 2));
    await context.close();
  }
});
