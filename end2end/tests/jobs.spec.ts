import { test, expect } from '@playwright/test';
import { consoleErrors, signIn } from './helpers';

test('start a storage check and watch its progress bar move and finish', async ({ page }, testInfo) => {
  const errors = consoleErrors(page);
  await signIn(page);
  await page.getByRole('navigation', { name: /Console areas/ }).first();
  await page.goto('/jobs');
  await expect(page.getByRole('heading', { name: 'Jobs' })).toBeVisible();
  await page.getByLabel('Storage check of').fill('1536');
  await page.getByRole('button', { name: 'Run storage check' }).click();

  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await expect(page.getByRole('heading', { name: /Job \d+ · Storage check/ })).toBeVisible();
  const bar = page.locator('progress');
  // The bar must move while the job runs, without a reload: read it several times.
  const seen = new Set<string>();
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const state = await page.locator('.page-head .badge').textContent();
    if (await bar.count()) seen.add((await bar.getAttribute('value')) ?? '');
    if (state === 'Succeeded') break;
    if (seen.size === 2) await page.screenshot({ path: testInfo.outputPath('job-running.png'), fullPage: true });
    await page.waitForTimeout(250);
  }
  await expect(page.locator('.page-head .badge')).toHaveText('Succeeded');
  const values = [...seen].map(Number).filter((v) => !Number.isNaN(v));
  expect(values.length, `progress values seen: ${[...seen]}`).toBeGreaterThanOrEqual(3);
  await expect(bar).toHaveAttribute('value', '100.0');
  await expect(page.getByTestId('result')).toContainText('"verified": true');
  await expect(page.getByTestId('log')).toContainText('content verified');
  await expect(page.getByRole('link', { name: 'Download log' })).toHaveAttribute('href', /\/api\/job_log\?id=\d+/);
  await page.screenshot({ path: testInfo.outputPath('job-finished.png'), fullPage: true });

  // The list shows it, and the log downloads as text.
  const id = page.url().split('/').pop();
  const log = await page.request.get(`/api/job_log?id=${id}`);
  expect(log.status()).toBe(200);
  expect(log.headers()['content-disposition']).toContain(`wimdeck-job-${id}.log`);
  expect(await log.text()).toContain('Succeeded');
  await page.goto('/jobs?state=succeeded');
  await expect(page.locator(`tr[data-job-id="${id}"]`)).toContainText('Storage check');
  await page.screenshot({ path: testInfo.outputPath('jobs-list.png'), fullPage: true });
  expect(errors).toEqual([]);
});

test('cancel a running job', async ({ page }) => {
  await signIn(page);
  await page.goto('/jobs');
  await page.getByLabel('Storage check of').fill('16384');
  await page.getByRole('button', { name: 'Run storage check' }).click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await expect(page.locator('.page-head .badge')).toHaveText('Running');
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.locator('.page-head .badge')).toHaveText('Cancelled', { timeout: 20_000 });
  await expect(page.getByTestId('log')).toContainText('Cancellation requested by admin');
  await expect(page.getByRole('button', { name: 'Retry' })).toBeVisible();
});

test('create, disable and delete a schedule', async ({ page }, testInfo) => {
  await signIn(page);
  await page.goto('/jobs/schedules');
  await page.getByLabel('Name').fill(`Nightly check ${testInfo.project.name}`);
  await page.getByLabel('Job').selectOption('storage-check');
  await page.getByLabel('Repeat').selectOption('cron');
  await page.getByLabel('When').fill('30 3 * * *');
  await page.getByRole('button', { name: 'Create schedule' }).click();
  const row = page.locator('tr', { hasText: `Nightly check ${testInfo.project.name}` });
  await expect(row).toContainText('cron 30 3 * * *');
  await expect(row).toContainText(/03:30:00 UTC/);
  await page.screenshot({ path: testInfo.outputPath('schedules.png'), fullPage: true });
  await row.getByRole('button', { name: 'Disable' }).click();
  await expect(row).toContainText('disabled');
  await row.getByRole('button', { name: 'Delete' }).click();
  await row.getByRole('button', { name: 'Confirm delete' }).click();
  await expect(row).toHaveCount(0);
  // A bad pattern is refused with a clear message.
  await page.getByLabel('Name').fill('Broken');
  await page.getByLabel('Repeat').selectOption('cron');
  await page.getByLabel('When').fill('every night');
  await page.getByRole('button', { name: 'Create schedule' }).click();
  await expect(page.getByRole('alert')).toContainText('five fields');
});
