import { test, expect } from '@playwright/test';
import { BOOT_TABS, CONSOLE_PAGES, hydrated, signIn } from './helpers';

// Every page, on the desktop and the phone project: a full-page screenshot to look at
// (test-results/<test>/<page>.png) and a check that nothing sticks out of its panel, the page
// body or the window, the defect screenshots showed once (a table's buttons past the edge).
test('every page fits its width, desktop and phone', async ({ page }, testInfo) => {
  test.setTimeout(180_000);
  const failures: string[] = [];
  const check = async (path: string) => {
    await hydrated(page);
    // Tabs load what they show after hydration.
    await page.waitForLoadState('networkidle');
    const overflowing = await page.evaluate(() => {
      // The first row of every table also gets a long unbroken value in each cell, as a path,
      // a hash or a vendor's name would be, then loses it after the measurement.
      const long = [...document.querySelectorAll('table.list tbody tr:first-child td')].map((td) =>
        td.appendChild(Object.assign(document.createElement('span'), { textContent: 'x'.repeat(90) })));
      const name = (el: Element) =>
        el.getAttribute('aria-label') ?? el.querySelector('h1, h2')?.textContent ?? el.className ?? el.tagName;
      const boxes = [document.documentElement, ...document.querySelectorAll('main, .panel, .page-head, .tiles')];
      const wide = boxes
        .filter((el) => el.scrollWidth > el.clientWidth + 1)
        .map((el) => `${el.tagName.toLowerCase()} "${name(el)}": ${el.scrollWidth} px of content in ${el.clientWidth} px`);
      long.forEach((span) => span.remove());
      return wide;
    });
    const name = path === '/' ? 'dashboard' : path.slice(1).replaceAll('/', '-').replace('?tab=', '-');
    const file = testInfo.outputPath(`${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    await testInfo.attach(name, { path: file, contentType: 'image/png' });
    failures.push(...overflowing.map((o) => `${path}: ${o}`));
  };
  await page.goto('/sign-in');
  await check('/sign-in');
  await signIn(page);
  const tabs = BOOT_TABS.filter((t) => t !== 'general').map((t) => `/boot-images/1?tab=${t}`);
  for (const path of [...CONSOLE_PAGES, ...tabs]) {
    await page.goto(path);
    await check(path);
  }
  expect(failures, `pages wider than their ${testInfo.project.name} viewport`).toEqual([]);
});
