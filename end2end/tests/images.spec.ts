import { test, expect } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';
import { consoleErrors, hydrated, openTab, readWim, signIn } from './helpers';

/** Console errors other than the refusals these tests provoke on purpose (4xx answers). */
function unexpected(errors: string[]) {
  return errors.filter((e) => !/status of 4\d\d/.test(e));
}

// The console under test starts with demo data (serve.sh): sample WIMs under the source root,
// reachable as \\wimdeck\sources, and three images imported from them.

/** Follows an import job to its end and opens the image it created. */
async function finishJobAndOpenImage(page: import('@playwright/test').Page) {
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await expect(page.locator('.page-head .badge')).toHaveText('Succeeded', { timeout: 30_000 });
  await page.getByRole('link', { name: 'Open the image' }).click();
  await expect(page).toHaveURL(/\/(boot|os)-images\/\d+$/);
  await hydrated(page);
}

test('add a boot image by share path, browse its files, edit with a conflict, delete it', async ({ page, context }, testInfo) => {
  const errors = consoleErrors(page);
  const name = `E2E PE ${testInfo.project.name}`;
  await signIn(page);
  await page.goto('/boot-images');
  await hydrated(page);
  await expect(page.getByRole('heading', { name: 'Boot Images' })).toBeVisible();
  await expect(page.getByRole('link', { name: 'Boot image (x64)' })).toBeVisible();

  // Filtering narrows the list.
  await page.getByLabel('Filter').fill('x86');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page.getByRole('link', { name: 'Boot image (x86)' })).toBeVisible();
  await expect(page.getByRole('link', { name: 'Boot image (x64)' })).toHaveCount(0);

  await page.goto('/boot-images');
  await hydrated(page);
  await page.getByRole('link', { name: 'Add boot image' }).click();
  await expect(page.getByRole('heading', { name: 'Add boot image' })).toBeVisible();
  await hydrated(page);
  const path = page.getByLabel('Path of the WIM file');

  // A file wimlib cannot read gets its specific reason, and nothing is offered.
  await path.fill('\\\\wimdeck\\sources\\install.esd');
  await page.getByRole('button', { name: 'Read the file' }).click();
  await expect(page.getByRole('alert')).toContainText('encrypted ESD');

  await path.fill('\\\\wimdeck\\sources\\boot_amd64.wim');
  await page.getByRole('button', { name: 'Read the file' }).click();
  await expect(page.getByRole('table', { name: 'Images in the file' })).toContainText('Microsoft Windows PE (amd64)');
  await expect(page.getByRole('table', { name: 'Images in the file' })).toContainText('Windows PE 10 (customizable)');
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Version').fill('1.0');
  await page.getByLabel('Comment').fill('added by Playwright');
  await page.screenshot({ path: testInfo.outputPath('add-boot-image.png'), fullPage: true });
  await page.getByRole('button', { name: 'Add boot image' }).click();
  await finishJobAndOpenImage(page);
  await expect(page.getByRole('heading', { name })).toBeVisible();
  const properties = page.getByRole('region', { name: 'Properties' });
  await expect(properties).toContainText('amd64');
  await expect(properties).toContainText('10 — customizable');
  await expect(properties).toContainText('boot_amd64.wim (index 1)');

  // The file browser, on the Images tab, reads folders from the WIM.
  await openTab(page, 'Images');
  const files = page.getByRole('region', { name: 'Files' });
  await files.getByRole('button', { name: 'Windows/' }).click();
  await files.getByRole('button', { name: 'Boot/' }).click();
  await files.getByRole('button', { name: 'PXE/' }).click();
  await expect(files).toContainText('pxeboot.n12');
  await expect(files).toContainText('wdsnbp.com');
  await page.screenshot({ path: testInfo.outputPath('boot-image-properties.png'), fullPage: true });

  // Two admins edit at once: the second save is refused, never silently overwritten.
  await openTab(page, 'General');
  const url = page.url();
  const other = await context.newPage();
  await other.goto(url);
  await hydrated(other);
  const general = (p: typeof page) => p.getByRole('region', { name: 'General' });
  await general(other).getByLabel('Comment').fill('changed by the other admin');
  await general(other).getByRole('button', { name: 'Save' }).click();
  await expect(general(other)).toContainText('Saved.');
  await general(page).getByLabel('Version').fill('2.0');
  await general(page).getByRole('button', { name: 'Save' }).click();
  await expect(general(page).getByRole('alert')).toContainText('changed by someone else');
  await page.reload();
  await hydrated(page);
  await expect(general(page).getByLabel('Comment')).toHaveValue('changed by the other admin');
  await expect(general(page).getByLabel('Version')).toHaveValue('1.0');
  await other.close();

  // Delete, with confirmation.
  await page.getByText('Delete this boot image…').click();
  await page.getByRole('button', { name: `Delete "${name}"` }).click();
  await expect(page).toHaveURL(/\/boot-images$/);
  await expect(page.getByRole('link', { name: 'Boot image (x64)' })).toBeVisible();
  await expect(page.getByRole('link', { name })).toHaveCount(0);
  expect(unexpected(errors)).toEqual([]);
});

test('add an OS image by extracting one index, then delete it', async ({ page }, testInfo) => {
  const errors = consoleErrors(page);
  const name = `E2E Pro ${testInfo.project.name}`;
  await signIn(page);
  await page.goto('/os-images/add');
  await hydrated(page);
  await readWim(page, '\\\\wimdeck\\sources\\install.wim', 'Windows 11 Pro');
  await page.getByLabel(/Extract one image/).check();
  await page.getByLabel('Image index').selectOption('2');
  await page.getByLabel('Name').fill(name);
  await page.getByRole('button', { name: 'Add OS image' }).click();
  await finishJobAndOpenImage(page);
  await expect(page.getByRole('heading', { name })).toBeVisible();
  const properties = page.getByRole('region', { name: 'Properties' });
  await expect(properties).toContainText('install-index2.wim');
  await expect(properties).toContainText('yes (deleted with the image)');
  await expect(page.getByRole('region', { name: 'Images in the file' })).toContainText('1 — Windows 11 Pro');
  await page.screenshot({ path: testInfo.outputPath('os-image-properties.png'), fullPage: true });

  // Verify runs as a job with a page of its own.
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await expect(page.locator('.page-head .badge')).toHaveText('Succeeded', { timeout: 30_000 });
  await page.getByRole('link', { name: 'Open the image' }).click();
  await hydrated(page);

  await page.getByText('Delete this OS image…').click();
  await page.getByRole('button', { name: `Delete "${name}"` }).click();
  await expect(page).toHaveURL(/\/os-images$/);
  await expect(page.getByRole('link', { name: 'Windows 11 24H2' })).toBeVisible();
  await expect(page.getByRole('link', { name })).toHaveCount(0);
  expect(unexpected(errors)).toEqual([]);
});

test('upload a boot image from this computer, after a file that is not a WIM is refused', async ({ page }, testInfo) => {
  const errors = consoleErrors(page);
  const name = `E2E Upload ${testInfo.project.name}`;
  // Copies under names of this project's own: the projects run side by side as one user.
  const samples = path.join(__dirname, '..', '..', 'target', 'e2e-data', 'sources');
  const wim = testInfo.outputPath(`pe-${testInfo.project.name}.wim`);
  const notes = testInfo.outputPath(`notes-${testInfo.project.name}.wim`);
  fs.copyFileSync(path.join(samples, 'boot_x86.wim'), wim);
  fs.copyFileSync(path.join(samples, 'notes.wim'), notes);
  await signIn(page);
  await page.goto('/boot-images/add');
  await hydrated(page);
  const chooser = page.getByLabel('WIM file(s) from this computer');
  const transfers = page.getByRole('list', { name: 'Transfers' });

  await chooser.setInputFiles(notes);
  await page.getByRole('button', { name: 'Upload' }).click();
  await expect(transfers).toContainText('is not a WIM file');

  await chooser.setInputFiles(wim);
  await page.getByRole('button', { name: 'Upload' }).click();
  await expect(transfers).toContainText('uploaded, SHA-256');
  // The uploaded file is read at once, named by its upload id (only its owner may use it).
  await expect(page.getByLabel('Path of the WIM file')).toHaveValue(/^upload:[A-Za-z0-9_-]+$/);
  await expect(page.getByRole('table', { name: 'Images in the file' })).toContainText('Microsoft Windows PE (x86)');
  await page.screenshot({ path: testInfo.outputPath('upload.png'), fullPage: true });
  await page.getByLabel('Name').fill(name);
  await page.getByRole('button', { name: 'Add boot image' }).click();
  await finishJobAndOpenImage(page);
  await expect(page.getByRole('heading', { name })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Properties' })).toContainText('x86');
  expect(unexpected(errors)).toEqual([]);
});

test('a read-only analyst sees the catalog but cannot change it', async ({ page }, testInfo) => {
  // Pages call only what their viewer may use: browsing provokes no refusal.
  const refusals: string[] = [];
  page.on('response', (r) => {
    if (r.status() === 403) refusals.push(r.url());
  });
  await signIn(page, 'analyst');
  const nav = testInfo.project.name === 'phone'
    ? async (name: string) => {
      await page.getByLabel('Menu').click();
      await page.getByRole('navigation', { name: 'Console areas (compact)' }).getByRole('link', { name }).click();
    }
    : (name: string) => page.getByRole('navigation', { name: 'Console areas' }).getByRole('link', { name }).click();
  await hydrated(page);
  await nav('Boot Images');
  await page.getByRole('link', { name: 'Boot image (x64)' }).click();
  await openTab(page, 'Drivers');
  await expect(page.getByRole('region', { name: 'Drivers' })).toBeVisible();
  await nav('Jobs');
  await expect(page.getByRole('heading', { name: 'Jobs', level: 1 })).toBeVisible();
  await nav('Drivers');
  await expect(page.getByRole('heading', { name: 'Drivers', level: 1 })).toBeVisible();
  await nav('OS Images');
  await page.getByRole('link', { name: 'Windows 11 24H2' }).click();
  await expect(page.getByRole('heading', { name: 'Windows 11 24H2' })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Actions' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Save' })).toHaveCount(0);
  await nav('Dashboard');
  await expect(page.getByTestId('catalog-os-images')).toBeVisible();
  expect(refusals).toEqual([]);
  const refused = await page.request.post('/api/delete_image', {
    form: { kind: 'os', id: '3', row_version: '1' },
    headers: { Origin: new URL(page.url()).origin },
  });
  expect(refused.status()).toBe(403);
});
