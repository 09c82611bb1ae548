import { test, expect } from '@playwright/test';
import { consoleErrors, hydrated, signIn, PASSWORD } from './helpers';

test('sign in, see the dashboard, sign out', async ({ page }, testInfo) => {
  const errors = consoleErrors(page);
  await signIn(page);

  await expect(page.getByTestId('signed-in-as')).toContainText('admin');
  await expect(page.getByTestId('signed-in-as')).toContainText('Full Administrator');
  await expect(page.getByTestId('database')).toContainText('SQLite');
  await expect(page.getByTestId('version')).toContainText(/\d+\.\d+\.\d+/);
  // serve.sh makes two users; specs that run earlier (security) may have added more.
  await expect(page.getByTestId('users')).toHaveText(/^Users\s*([2-9]|\d{2,})\s*\d+ active session/);
  // The catalog at a glance (the demo data, plus what earlier specs added) and the jobs.
  await expect(page.getByTestId('catalog-boot-images')).toHaveText(/^Boot images\s*([2-9]|\d{2,})/);
  await expect(page.getByTestId('catalog-os-images')).toHaveText(/^OS images\s*[1-9]/);
  await expect(page.getByTestId('catalog-drivers')).toHaveText(/^Drivers\s*\d+/);
  await expect(page.getByRole('region', { name: 'Jobs' })).toContainText('Failed in the last 24 hours');
  await expect(page).toHaveTitle('Dashboard · Wimdeck');

  await page.screenshot({ path: testInfo.outputPath('dashboard.png'), fullPage: true });
  if (testInfo.project.name === 'phone') {
    await expect(page.locator('.sidebar')).toBeHidden();
    await page.getByLabel('Menu').click();
    const compact = page.getByRole('navigation', { name: 'Console areas (compact)' });
    await expect(compact.getByRole('link', { name: 'Dashboard' })).toBeVisible();
    // Following a link closes the menu.
    await compact.getByRole('link', { name: 'Jobs' }).click();
    await expect(page.getByRole('heading', { name: 'Jobs', level: 1 })).toBeVisible();
    await expect(page.locator('details.menu')).not.toHaveAttribute('open');
  } else {
    await expect(
      page.getByRole('navigation', { name: 'Console areas', exact: true }).getByRole('link', { name: 'Dashboard' }),
    ).toBeVisible();
  }

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/sign-in$/);
  await page.goto('/');
  await expect(page).toHaveURL(/\/sign-in\?next=/);
  expect(errors).toEqual([]);
});

test('a wrong password is refused', async ({ page }, testInfo) => {
  await page.goto('/sign-in');
  await hydrated(page);
  await page.getByLabel('User name').fill('analyst');
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('The user name or password is incorrect.');
  await expect(page).toHaveURL(/\/sign-in$/);
  await page.screenshot({ path: testInfo.outputPath('wrong-password.png') });
  // The right password still works afterwards.
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('signed-in-as')).toContainText('Read-only Analyst');
});

test('a cross-site POST is refused', async ({ page, baseURL }, testInfo) => {
  await signIn(page);
  // A page on another site that submits a form to the console, as an attacker's page would.
  // The route is answered inside the browser: no traffic leaves this machine.
  await page.route('http://attacker.invalid/**', (route) =>
    route.fulfill({
      contentType: 'text/html',
      body: `<form method="post" action="${baseURL}/api/sign_out"></form>
             <script>document.forms[0].submit()</script>`,
    }),
  );
  const refused = page.waitForResponse((r) => r.url().endsWith('/api/sign_out'));
  await page.goto('http://attacker.invalid/');
  expect((await refused).status()).toBe(403);
  await page.screenshot({ path: testInfo.outputPath('cross-site-refused.png') });
  // The session survived.
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible();
});
