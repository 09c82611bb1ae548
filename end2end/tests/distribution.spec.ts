import { test, expect } from '@playwright/test';
import { consoleErrors, hydrated, signIn } from './helpers';

/** Console errors other than the refusals these tests provoke on purpose (4xx answers). */
function unexpected(errors: string[]) {
  return errors.filter((e) => !/status of 4\d\d/.test(e));
}

test('add a DP and get its enrollment command once; distribute an OS image to this server and watch it arrive', async ({ page }, testInfo) => {
  const errors = consoleErrors(page);
  const dpName = `Branch E2E ${testInfo.project.name}`;
  await signIn(page);

  // "This server" is a DP from the first start, and its agent reports.
  await page.goto('/distribution-points');
  await hydrated(page);
  const dps = page.getByRole('table', { name: 'Distribution points' });
  await expect(dps.getByRole('row', { name: /This server/ })).toContainText('Online');

  // A remote DP: added, then a one-time token with the commands to run on it.
  await page.getByLabel('Name', { exact: true }).fill(dpName);
  await page.getByLabel('Boundaries (subnets it serves, one per line)').fill('10.20.0.0/16');
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await expect(page).toHaveURL(/\/distribution-points\/\d+$/);
  await hydrated(page);
  await expect(page.getByRole('heading', { name: dpName })).toBeVisible();
  await expect(page.locator('.page-head .badge')).toHaveText('Not enrolled');
  await page.getByRole('button', { name: 'Make an enrollment token' }).click();
  const command = page.locator('pre.command');
  await expect(command).toContainText(/wimdeck dp enroll --site http:\/\/127\.0\.0\.1:\d+ --token wdp-/);
  await expect(command).toContainText('wimdeck dp serve');
  // A bad boundary is refused, naming it.
  await page.getByLabel('Boundaries (subnets it serves, one per line)').fill('10.20.0.0/40');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('alert')).toContainText('"10.20.0.0/40" is not a subnet');
  await page.screenshot({ path: testInfo.outputPath('dp.png'), fullPage: true });

  // Distribute the demo OS image to this server; it arrives, verified.
  await page.goto('/os-images/3');
  await hydrated(page);
  const panel = page.getByRole('region', { name: 'Distribution' });
  // DPs are found by name; what is chosen stays chosen while the words change.
  const find = panel.getByLabel('Find distribution points and groups');
  const offered = panel.getByRole('group', { name: 'Distribution points' });
  await find.fill(dpName.toUpperCase());
  await offered.getByLabel(dpName).check();
  await find.fill('this server');
  await expect(offered.getByLabel(dpName)).toHaveCount(0);
  const chosen = panel.getByRole('group', { name: 'Chosen' });
  await expect(chosen).toContainText(dpName);
  await panel.screenshot({ path: testInfo.outputPath('distribute-form.png') });
  await chosen.getByRole('button', { name: `Do not send to ${dpName}` }).click();
  await expect(chosen).toHaveCount(0);
  await find.fill('no such distribution point');
  await expect(offered).toContainText('No distribution point you may send it to matches.');
  await find.fill('');
  await expect(offered).not.toContainText('matches.');
  const row = panel.getByRole('table', { name: 'Distribution status' }).getByRole('row', { name: /This server/ });
  const already = offered.getByText(/1 distribution point that has it already is not listed/);
  if (await already.count() > 0) {
    // The other project's run sent it already: this server is not offered again.
    await expect(offered.getByLabel('This server')).toHaveCount(0);
    await row.getByRole('button', { name: 'Redistribute' }).click();
  } else {
    await offered.getByLabel('This server').check();
    await panel.getByRole('button', { name: 'Distribute content' }).click();
    // Once its job made the assignment, the DP is no longer offered.
    await expect(already).toBeVisible({ timeout: 45_000 });
  }
  await expect(row).toContainText(/Success \(version \d+\)/, { timeout: 45_000 });
  await expect(panel).toContainText(/Version \d+ in the content library/);

  // The history of the pair.
  await row.getByRole('button', { name: 'History' }).click();
  await expect(row.locator('ol.history')).toContainText('Success');

  // The lists and the status page say so.
  await page.goto('/os-images');
  await hydrated(page);
  await expect(page.getByRole('table').first()).toContainText(/\d+ of \d+ DPs/);
  await page.goto('/distribution');
  await hydrated(page);
  await expect(page.getByRole('table', { name: 'Content on distribution points' })).toContainText('This server');
  await expect(page.getByText(/Content library: \d+ contents/)).toBeVisible();
  await page.screenshot({ path: testInfo.outputPath('distribution-status.png'), fullPage: true });
  expect(unexpected(errors)).toEqual([]);
});

test('a DP page follows a change made in another window, live', async ({ page, context }, testInfo) => {
  const errors = consoleErrors(page);
  const name = `Live E2E ${testInfo.project.name}`;
  await signIn(page);
  await page.goto('/distribution-points');
  await hydrated(page);
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await expect(page).toHaveURL(/\/distribution-points\/\d+$/);
  await hydrated(page);
  await expect(page.getByRole('heading', { name })).toBeVisible();

  // Another window renames it.
  const other = await context.newPage();
  await other.goto(page.url());
  await hydrated(other);
  await other.getByLabel('Name', { exact: true }).fill(`${name} renamed`);
  await other.getByRole('button', { name: 'Save' }).click();
  await expect(other.getByRole('heading', { name: `${name} renamed` })).toBeVisible();

  // The first window was not touched, and a DP page polls only every 30 s while nothing
  // transfers: the server told it.
  await expect(page.getByRole('heading', { name: `${name} renamed` })).toBeVisible({ timeout: 10_000 });
  await other.close();
  expect(unexpected(errors)).toEqual([]);
});

test('a Read-only Analyst sees distribution but changes nothing', async ({ page }) => {
  await signIn(page, 'analyst');
  await page.goto('/distribution-points');
  await hydrated(page);
  await expect(page.getByRole('table', { name: 'Distribution points' })).toContainText('This server');
  await expect(page.getByRole('region', { name: 'Add a distribution point' })).toHaveCount(0);
  await page.goto('/os-images/3');
  await hydrated(page);
  const panel = page.getByRole('region', { name: 'Distribution' });
  await expect(panel).toContainText(/of \d+ DPs/);
  await expect(panel.getByRole('button', { name: 'Distribute content' })).toHaveCount(0);
  await expect(panel.getByRole('button', { name: 'Redistribute' })).toHaveCount(0);
});

test('a DP enabled for prestaged content; a prestaged content file made, listed and downloaded', async ({ page }, testInfo) => {
  const errors = consoleErrors(page);
  await signIn(page);

  // A DP that waits for prestaged content instead of fetching.
  await page.goto('/distribution-points');
  await hydrated(page);
  await page.getByLabel('Name', { exact: true }).fill(`Offline branch ${testInfo.project.name}`);
  await page.getByLabel('Enable for prestaged content').check();
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await expect(page).toHaveURL(/\/distribution-points\/\d+$/);
  await hydrated(page);
  await expect(page.getByLabel('Enable for prestaged content')).toBeChecked();

  // The content's prestaged behaviour, and a file of its newest version.
  await page.goto('/os-images/3');
  await hydrated(page);
  const panel = page.getByRole('region', { name: 'Distribution' });
  await panel.locator('summary', { hasText: 'Distribution settings' }).click();
  await panel.getByLabel('Prestaged distribution points').selectOption('changes');
  await panel.getByRole('button', { name: 'Save' }).click();
  await page.reload();
  await hydrated(page);
  await panel.locator('summary', { hasText: 'Distribution settings' }).click();
  await expect(panel.getByLabel('Prestaged distribution points')).toHaveValue('changes');

  await panel.locator('summary', { hasText: 'Prestaged content files' }).click();
  await panel.getByRole('button', { name: 'Create prestaged content file' }).click();
  await expect(panel.getByRole('status')).toContainText(/Queued: job \d+/);
  const files = panel.getByRole('table', { name: 'Prestaged content files' });
  const link = files.getByRole('link', { name: /^prestaged-\d+\.wdprestage$/ }).first();
  await expect(link).toBeVisible({ timeout: 45_000 });
  await expect(files).toContainText(/\(version \d+\)/);
  const href = await link.getAttribute('href');
  expect(href).toMatch(/^\/api\/prestaged\/prestaged-\d+\.wdprestage$/);
  const download = await page.request.get(href!);
  expect(download.status()).toBe(200);
  expect(download.headers()['content-disposition']).toContain('attachment');
  expect((await download.body()).subarray(0, 17).toString()).toBe('WIMDECK-PRESTAGED');
  await page.screenshot({ path: testInfo.outputPath('prestaged.png'), fullPage: true });

  // One file of several contents, chosen on the Distribution status page.
  await page.goto('/distribution');
  await hydrated(page);
  const section = page.getByRole('region', { name: 'Prestaged content' });
  const form = section.getByRole('form', { name: 'New prestaged content file' });
  const boxes = form.getByRole('checkbox');
  expect(await boxes.count()).toBeGreaterThanOrEqual(1);
  // Nothing chosen: refused, saying so.
  await form.getByRole('button', { name: 'Create prestaged content file' }).click();
  await expect(section.getByRole('alert')).toContainText('Choose at least one content');
  const count = await boxes.count();
  for (let i = 0; i < count; i++) await boxes.nth(i).check();
  await form.getByRole('button', { name: 'Create prestaged content file' }).click();
  const queued = section.getByRole('status');
  await expect(queued).toContainText(/Queued: job \d+/);
  const job = (await queued.getByRole('link').textContent())!.replace('job ', '');
  const made = section.getByRole('table', { name: 'Prestaged content files' }).getByRole('row', { name: new RegExp(`prestaged-${job}\\.wdprestage`) });
  await expect(made).toBeVisible({ timeout: 45_000 });
  await expect(made.getByRole('cell').nth(1)).toContainText(count > 1 ? /\(version \d+\), .*\(version \d+\)/ : /\(version \d+\)/);
  await page.screenshot({ path: testInfo.outputPath('prestaged-several.png'), fullPage: true });
  expect(unexpected(errors)).toEqual([]);
});

test('a DP group gets members chosen from every DP; the lists filter and say how much matched', async ({ page }, testInfo) => {
  const errors = consoleErrors(page);
  const group = `Group E2E ${testInfo.project.name}`;
  await signIn(page);
  await page.goto('/distribution-points');
  await hydrated(page);
  await page.getByRole('textbox', { name: 'New group' }).fill(group);
  await page.getByRole('button', { name: 'Add group' }).click();
  const details = page.locator('details.group', { hasText: group });
  await expect(details).toContainText('0 member(s)');

  // The member boxes appear when the group is opened.
  await details.locator('summary').click();
  await details.getByLabel('This server').check();
  await details.getByRole('button', { name: 'Save members' }).click();
  await expect(page.locator('details.group', { hasText: group })).toContainText('1 member(s)');
  await expect(page.locator('details.group', { hasText: group }).locator('summary')).toContainText('This server');

  // Filtering the list.
  await page.getByLabel('Filter').fill('this server');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/q=this(\+|%20)server/);
  const dps = page.getByRole('table', { name: 'Distribution points' });
  await expect(dps.locator('tbody tr')).toHaveCount(1);
  await expect(page.getByText(/^1–1 of 1 \(\d+ in all\)$/)).toBeVisible();

  // The status page filters by state; its tiles lead there too.
  await page.goto('/distribution');
  await hydrated(page);
  await page.getByRole('link', { name: /failed/ }).click();
  await expect(page).toHaveURL(/\/distribution\?state=failed$/);
  await expect(page.getByLabel('Status')).toHaveValue('failed');
  expect(unexpected(errors)).toEqual([]);
});
