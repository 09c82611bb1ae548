import { test, expect } from '@playwright/test';
import { consoleErrors, hydrated, openTab, readWim, signIn } from './helpers';

/** Console errors other than the refusals these tests provoke on purpose (4xx answers). */
function unexpected(errors: string[]) {
  return errors.filter((e) => !/status of 4\d\d/.test(e));
}

// The demo data (serve.sh) holds driver packages under \\wimdeck\sources\drivers.

test('import a driver package, filter the catalog, add a driver to a boot image, apply, see the revision', async ({ page }, testInfo) => {
  const errors = consoleErrors(page);
  const bootName = `Drivers E2E ${testInfo.project.name}`;
  await signIn(page);

  // Import: every INF has a result; a second import of the same package finds duplicates.
  await page.goto('/drivers');
  await hydrated(page);
  await page.getByLabel('Package (folder, .zip or .cab)').fill('\\\\wimdeck\\sources\\drivers\\contoso-lan.zip');
  await page.getByLabel('Categories').fill('Lab');
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await expect(page.locator('.page-head .badge')).toHaveText('Succeeded', { timeout: 30_000 });
  await expect(page.getByText(/e1d\.inf: (Contoso Gigabit|already in the catalog)/).first()).toBeVisible();

  // Filters: text, class, signature.
  await page.goto('/drivers?q=gigabit');
  await hydrated(page);
  const table = page.getByRole('table', { name: 'Drivers' });
  await expect(table).toContainText('Contoso Gigabit Ethernet Connection (e1d)');
  await expect(table).toContainText('Signed: Contoso Networks');
  await expect(table).not.toContainText('Northwind Basic Display');
  await page.goto('/drivers?class=Display');
  await hydrated(page);
  await expect(table).toContainText('Northwind Basic Display');
  await expect(table).not.toContainText('Contoso Gigabit');
  await page.screenshot({ path: testInfo.outputPath('drivers.png'), fullPage: true });

  // A boot image of its own for this project.
  await page.goto('/boot-images/add');
  await hydrated(page);
  await readWim(page, '\\\\wimdeck\\sources\\boot_amd64.wim', 'Windows PE 10');
  await page.getByLabel('Name').fill(bootName);
  await page.getByRole('button', { name: 'Add boot image' }).click();
  await expect(page.locator('.page-head .badge')).toHaveText('Succeeded', { timeout: 30_000 });
  await page.getByRole('link', { name: 'Open the image' }).click();
  await hydrated(page);
  await expect(page.getByRole('heading', { name: bootName })).toBeVisible();
  await openTab(page, 'Drivers');

  // The three filters are on: the display driver is hidden, the network driver offered.
  const drivers = page.getByRole('region', { name: 'Drivers' });
  await expect(drivers.getByLabel('Hide drivers that are not in a storage or network class')).toBeChecked();
  const catalog = drivers.getByRole('table', { name: 'Catalog drivers' });
  await expect(catalog).toContainText('Contoso Gigabit Ethernet Connection (e1d)');
  await expect(catalog).not.toContainText('Northwind Basic Display');
  await drivers.getByLabel('Hide drivers that are not in a storage or network class').uncheck();
  await expect(catalog).toContainText('Northwind Basic Display');

  await drivers.getByRole('button', { name: 'Add e1d.inf' }).click();
  const listed = drivers.getByRole('table', { name: 'Drivers of this boot image' });
  await expect(listed).toContainText('Contoso Gigabit Ethernet Connection (e1d)');
  await expect(drivers.getByRole('status').first()).toContainText('build it to write a new revision');
  await drivers.getByRole('button', { name: 'Apply drivers' }).click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await expect(page.locator('.page-head .badge')).toHaveText('Succeeded', { timeout: 60_000 });
  await page.goBack();
  await page.reload();
  await hydrated(page);
  await expect(page.getByRole('region', { name: 'Drivers' }).getByRole('status').first())
    .toContainText('Revision 2 of the boot image contains these 1 driver(s)');
  await page.screenshot({ path: testInfo.outputPath('boot-image-drivers.png'), fullPage: true });

  // The driver is in use now: its page says so, and deleting it is refused with the name.
  await page.goto('/drivers?q=gigabit');
  await hydrated(page);
  await page.getByRole('link', { name: 'Contoso Gigabit Ethernet Connection (e1d)' }).click();
  await hydrated(page);
  await expect(page.getByRole('region', { name: 'Properties' })).toContainText(bootName);
  await page.getByText('Delete this driver…').click();
  await page.getByRole('button', { name: /^Delete "Contoso Gigabit/ }).click();
  await expect(page.getByRole('alert')).toContainText(`"${bootName}"`);
  expect(unexpected(errors)).toEqual([]);
});

test('the read-only analyst sees the catalog but cannot import or change drivers', async ({ page }) => {
  await signIn(page, 'analyst');
  await page.goto('/drivers');
  await hydrated(page);
  await expect(page.getByRole('heading', { name: 'Drivers' })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Import drivers' })).toHaveCount(0);
});
