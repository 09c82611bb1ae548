import { test, expect } from '@playwright/test';
import { addBootImage, consoleErrors, hydrated, jobSucceeds, openTab, signIn } from './helpers';

test('customize a boot image, build it, compare revisions and roll back', async ({ page }, testInfo) => {
  test.setTimeout(180_000);
  const errors = consoleErrors(page);
  const name = `Custom PE ${testInfo.project.name}`;
  await signIn(page);
  const path = await addBootImage(page, name);

  await openTab(page, 'Customization');
  const custom = page.getByRole('region', { name: 'Customization' });
  await custom.getByLabel('Enable prestart command').check();
  await custom.getByLabel('Command line').fill('prestart.cmd');
  await custom.getByLabel('Scratch space').selectOption('256');
  await custom.getByLabel('Input locale').selectOption({ label: 'German (0407:00000407)' });
  await custom.getByLabel('Enable command support (testing only)').check();
  await custom.getByRole('button', { name: 'Save', exact: true }).click();
  // Saved, not built yet: the page says what a build would change, and warns.
  const pending = page.locator('.pending');
  await expect(pending).toContainText('Scratch space: as the image has it → 256 MB');
  await expect(page.getByText('Command support is on')).toBeVisible();
  await expect(page.getByText('starts a .cmd script directly')).toBeVisible();
  await page.screenshot({ path: testInfo.outputPath('customization.png'), fullPage: true });
  await pending.getByRole('button', { name: 'Build now' }).click();
  await jobSucceeds(page);

  await page.goto(`${path}?tab=revisions`);
  await hydrated(page);
  await expect(page.locator('.page-head')).toContainText('command support: testing only');
  const revisions = page.getByRole('table', { name: 'Revisions' });
  const second = revisions.locator('tr[data-revision="2"]');
  await expect(second).toContainText('current');
  await expect(second).toContainText('Scratch space: as the image has it → 256 MB');

  const panel = page.getByRole('region', { name: 'Revisions' });
  await panel.getByLabel('From').selectOption('1');
  await panel.getByLabel('To').selectOption('2');
  await panel.getByRole('button', { name: 'Compare' }).click();
  const diff = page.getByRole('region', { name: 'Differences' });
  await expect(diff).toContainText('Command support (testing only): off → on');
  const files = diff.getByRole('table', { name: 'Changed files' });
  await expect(files.locator('tr[data-delta="changed"]')).toContainText('/Windows/System32/config/SYSTEM');
  await expect(files.locator('tr[data-delta="added"]')).toContainText('/Unattend.xml');
  await page.screenshot({ path: testInfo.outputPath('revisions.png'), fullPage: true });

  await revisions.getByRole('button', { name: 'Roll back to 1' }).click();
  await expect(revisions.locator('tr[data-revision="3"]')).toContainText('Rolled back to revision 1');
  await expect(revisions.locator('tr[data-revision="3"]')).toContainText('current');
  await expect(page.locator('.page-head')).not.toContainText('testing only');
  await page.goto('/boot-images');
  await hydrated(page);
  await expect(page.locator('tr', { hasText: name })).not.toContainText('testing only');
  expect(errors).toEqual([]);
});

test('a discover image with a static server, from a Setup boot image', async ({ page }, testInfo) => {
  test.setTimeout(120_000);
  const errors = consoleErrors(page);
  const name = `Discover ${testInfo.project.name}`;
  await signIn(page);
  await page.goto('/boot-images');
  await hydrated(page);
  await page.getByRole('link', { name: 'Windows Setup (x64)' }).click();
  await hydrated(page);
  await openTab(page, 'Images');
  const forms = page.getByRole('region', { name: 'Capture and discover images' });
  const discover = forms.locator('form', { has: page.getByRole('button', { name: 'Create discover image' }) });
  await discover.getByLabel('Name').fill(name);
  await discover.getByLabel('Server to find').fill('deploy01.corp.example');
  await discover.getByRole('button', { name: 'Create discover image' }).click();
  await jobSucceeds(page);
  await page.getByRole('link', { name: 'Open the image' }).click();
  await hydrated(page);
  await expect(page.getByRole('heading', { name })).toBeVisible();
  await expect(page.locator('.page-head')).toContainText('discover image');
  await openTab(page, 'Revisions');
  await expect(page.getByRole('table', { name: 'Revisions' }).locator('tr[data-revision="1"]'))
    .toContainText('Made as a discover image from "Windows Setup (x64)"');

  // An image without Setup says so instead of offering the form.
  await page.goto('/boot-images/1?tab=images');
  await hydrated(page);
  await expect(page.getByRole('region', { name: 'Capture and discover images' }))
    .toContainText('has no sources\\setup.exe');
  expect(errors).toEqual([]);
});

test('a Content Operator and a Read-only Analyst see what their roles allow', async ({ page }) => {
  const refusals: string[] = [];
  page.on('response', (r) => {
    if (r.status() === 403) refusals.push(r.url());
  });
  // The Content Operator validates content: Verify, and nothing that changes the recipe.
  await signIn(page, 'operator');
  await page.goto('/boot-images/1');
  await hydrated(page);
  await expect(page.getByRole('button', { name: 'Verify' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Save' })).toHaveCount(0);
  await openTab(page, 'Customization');
  await expect(page.getByRole('region', { name: 'Customization' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Save and build' })).toHaveCount(0);
  await openTab(page, 'Revisions');
  await expect(page.getByRole('table', { name: 'Revisions' })).toBeVisible();
  await expect(page.getByRole('button', { name: /^Roll back/ })).toHaveCount(0);
  await page.getByRole('button', { name: 'Sign out' }).click();
  // Signed out for certain before the next sign-in (its first step expects the redirect).
  await expect(page).toHaveURL(/\/sign-in$/);

  // The analyst reads every tab and can change nothing.
  await signIn(page, 'analyst');
  for (const tab of ['Customization', 'Optional components', 'Data source', 'Revisions']) {
    await page.goto('/boot-images/1');
    await hydrated(page);
    await openTab(page, tab);
    await expect(page.getByRole('region', { name: tab })).toBeVisible();
  }
  await page.goto('/boot-images/1?tab=components');
  await hydrated(page);
  await expect(page.getByRole('table', { name: 'Components' }).locator('tr[data-component="WinPE-WMI"]'))
    .toContainText('yes');
  await expect(page.getByRole('button', { name: 'Reload' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Build now' })).toHaveCount(0);
  expect(refusals).toEqual([]);
});
