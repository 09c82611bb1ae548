import { test, expect, type Page } from '@playwright/test';
import { PASSWORD, addBootImage, consoleErrors, hydrated, openTab, signIn } from './helpers';

/** Console errors other than the refusals these tests provoke on purpose (4xx answers). */
function unexpected(errors: string[]) {
  return errors.filter((e) => !/status of 4\d\d/.test(e));
}

async function signOut(page: Page) {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/sign-in$/);
}

/** Moves the open image to `scope` alone, with its Security panel. */
async function moveTo(page: Page, scope: string) {
  await openTab(page, 'Security');
  const security = page.getByRole('region', { name: 'Security' });
  await security.getByLabel(scope, { exact: true }).check();
  await security.getByLabel('Default', { exact: true }).uncheck();
  await security.getByRole('button', { name: 'Set security scopes' }).click();
  await expect(security.locator('dd[data-scopes]')).toHaveText(scope);
}

test('scopes, a scoped OSD manager, the Security panel and the audit log', async ({ page }, testInfo) => {
  const errors = consoleErrors(page);
  const p = testInfo.project.name;
  const lab = `Lab ${p}`;
  const production = `Production ${p}`;
  const osd = `labosd-${p}`;

  // A Full Administrator makes two scopes and a user who manages images in Lab only.
  await signIn(page);
  await page.goto('/security/scopes');
  await hydrated(page);
  const create = page.getByRole('region', { name: 'Create security scope' });
  for (const name of [lab, production]) {
    await create.getByLabel('Name').fill(name);
    await create.getByRole('button', { name: 'Create' }).click();
    await expect(page.getByRole('table', { name: 'Security scopes' })).toContainText(name);
  }
  await page.goto('/security/users');
  await hydrated(page);
  const newUser = page.getByRole('region', { name: 'Create user' });
  await newUser.getByLabel('User name').fill(osd);
  await newUser.getByLabel('Initial password').fill(PASSWORD);
  await newUser.getByLabel('Role').selectOption({ label: 'Operating System Deployment Manager' });
  await newUser.getByLabel(lab, { exact: true }).check();
  await newUser.getByRole('button', { name: 'Create user' }).click();
  const users = page.getByRole('table', { name: 'Users' });
  await expect(users.locator(`tr[data-user="${osd}"]`)).toContainText(`Operating System Deployment Manager — ${lab}`);
  await page.screenshot({ path: testInfo.outputPath('users.png'), fullPage: true });

  // Two boot images, one in each scope.
  const prodPath = await addBootImage(page, `Prod PE ${p}`);
  await moveTo(page, production);
  const rights = page.getByRole('region', { name: 'Security' }).getByRole('table', { name: 'Effective rights' });
  await expect(rights.locator('tr[data-user="admin"]')).toContainText('Set security scope');
  await expect(rights.locator('tr[data-user="analyst"]')).toHaveText(/analyst\s*Read$/);
  await expect(rights.locator(`tr[data-user="${osd}"]`)).toHaveCount(0);
  const labPath = await addBootImage(page, `Lab PE ${p}`);
  await moveTo(page, lab);
  await expect(rights.locator(`tr[data-user="${osd}"]`))
    .toContainText('Read, Create, Modify, Delete, Distribute, Validate, Set security scope, Publish to PXE');
  await page.screenshot({ path: testInfo.outputPath('security-panel.png'), fullPage: true });
  await signOut(page);

  // The Lab manager sees Lab's image and not Production's, and may change Lab's.
  await signIn(page, osd);
  await page.goto('/boot-images');
  await hydrated(page);
  await expect(page.getByRole('link', { name: `Lab PE ${p}` })).toBeVisible();
  await expect(page.getByRole('link', { name: `Prod PE ${p}` })).toHaveCount(0);
  await page.goto(prodPath);
  await hydrated(page);
  await expect(page.getByRole('alert')).toContainText('outside your security scopes');
  await page.goto(labPath);
  await hydrated(page);
  await page.getByLabel('Comment').fill(`Checked by ${osd}`);
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByText('Saved.')).toBeVisible();
  await signOut(page);

  // The analyst reads both but changes nothing; an attempt is refused and recorded.
  await signIn(page, 'analyst');
  await page.goto(labPath);
  await hydrated(page);
  await expect(page.getByRole('heading', { name: `Lab PE ${p}` })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Save' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Set security scopes' })).toHaveCount(0);
  const id = labPath.split('/').pop();
  const refused = await page.request.post('/api/delete_image', {
    form: { kind: 'boot', id: id!, row_version: '1' },
    headers: { Origin: new URL(page.url()).origin },
  });
  expect(refused.status()).toBe(403);
  await page.goto('/security/users');
  await hydrated(page);
  await expect(page.getByRole('table', { name: 'Users' })).toContainText(osd);
  await expect(page.getByRole('region', { name: 'Create user' })).toHaveCount(0);
  await expect(page.getByText(`Change ${osd}`)).toHaveCount(0);
  await page.goto('/security/audit');
  await hydrated(page);
  await expect(page.getByRole('alert')).toContainText('You do not have permission to read the audit log');
  await signOut(page);

  // The audit log has the allowed changes and the refusal, with the fields that changed.
  await signIn(page);
  await page.goto(`/security/audit?user=${osd}`);
  await hydrated(page);
  const log = page.getByRole('table', { name: 'Audit log' });
  await expect(log.locator('tr[data-outcome="allowed"]').first()).toContainText(`comment: (empty) → Checked by ${osd}`);
  await page.goto('/security/audit?user=analyst&outcome=denied&text=delete_image');
  await hydrated(page);
  await expect(log.locator('tr[data-outcome="denied"]').first()).toContainText('you do not have permission to delete boot images');
  await expect(log.locator('tr[data-outcome="allowed"]')).toHaveCount(0);
  await page.goto('/security/audit?user=analyst&object_type=audit-log');
  await hydrated(page);
  await expect(log.locator('tr[data-outcome="denied"]').first()).toContainText('you do not have permission to read the audit log');
  await page.screenshot({ path: testInfo.outputPath('audit-log.png'), fullPage: true });
  const csv = await page.request.get('/api/export_audit?format=csv&user=analyst&outcome=denied');
  expect(csv.status()).toBe(200);
  expect(await csv.text()).toContain(',analyst,delete,boot-image,,/api/delete_image,denied,you do not have permission to delete');
  expect(unexpected(errors)).toEqual([]);
});

test('roles: built-ins are read-only, a copy can be edited', async ({ page }, testInfo) => {
  const name = `Image reader ${testInfo.project.name}`;
  await signIn(page);
  await page.goto('/security/roles');
  await hydrated(page);
  const analyst = page.locator('details[data-role="Read-only Analyst"]');
  await analyst.locator('summary').click();
  await expect(analyst.getByRole('button', { name: 'Save role' })).toHaveCount(0);
  await analyst.getByLabel('Name of the copy').fill(name);
  await analyst.getByRole('button', { name: 'Copy' }).click();
  const copy = page.locator(`details[data-role="${name}"]`);
  await expect(copy).toHaveCount(1);
  await copy.locator('summary').click();
  const audit = copy.getByRole('group', { name: 'Audit log' });
  await audit.getByLabel('Read').check();
  await copy.getByRole('button', { name: 'Save role' }).click();
  await expect(copy.getByRole('table')).toContainText('Audit log');
});

test('an API token is shown once and works as a bearer token', async ({ page, playwright }, testInfo) => {
  await signIn(page);
  await page.goto('/account');
  await hydrated(page);
  const tokens = page.getByRole('region', { name: 'API tokens' });
  await tokens.getByLabel('Name').fill(`script ${testInfo.project.name}`);
  await tokens.getByRole('button', { name: 'Create token' }).click();
  const secret = (await page.locator('[data-token-secret]').textContent())!.trim();
  expect(secret).toMatch(/^wdk_/);
  await expect(tokens.locator(`tr[data-token="script ${testInfo.project.name}"]`)).toContainText('active');
  const api = await playwright.request.newContext({ baseURL: new URL(page.url()).origin });
  const me = await api.post('/api/whoami', { headers: { Authorization: `Bearer ${secret}` } });
  expect(me.status()).toBe(200);
  expect(await me.text()).toContain('"admin"');
  await page.reload();
  await hydrated(page);
  await expect(page.locator('[data-token-secret]')).toHaveCount(0);
  await tokens.locator(`tr[data-token="script ${testInfo.project.name}"]`).getByRole('button', { name: 'Revoke' }).click();
  await expect(tokens.locator(`tr[data-token="script ${testInfo.project.name}"]`)).toContainText('revoked');
  const after = await api.post('/api/whoami', { headers: { Authorization: `Bearer ${secret}` } });
  expect(after.status()).toBe(401);
  await api.dispose();
});

test('a security change asks for the password again once the sign-in is older than the window', async ({ page }, testInfo) => {
  // serve.sh sets the window to one minute; the test outwaits it.
  test.setTimeout(150_000);
  const name = `late-${testInfo.project.name}`;
  await signIn(page);
  await page.goto('/security/users');
  await hydrated(page);
  await page.waitForTimeout(61_000);
  const newUser = page.getByRole('region', { name: 'Create user' });
  await newUser.getByLabel('User name').fill(name);
  await newUser.getByLabel('Initial password').fill(PASSWORD);
  await newUser.getByLabel('Role').selectOption({ label: 'Read-only Analyst' });
  await newUser.getByLabel('All scopes (also those made later)').check();
  await newUser.getByRole('button', { name: 'Create user' }).click();
  const prompt = page.locator('.reauth');
  await expect(prompt).toContainText('Enter your password again to create users');
  await prompt.getByLabel('Your password').fill('not my password');
  await prompt.getByRole('button', { name: 'Confirm and continue' }).click();
  await expect(prompt).toContainText('The password is incorrect.');
  await prompt.getByLabel('Your password').fill(PASSWORD);
  await prompt.getByRole('button', { name: 'Confirm and continue' }).click();
  await expect(page.getByRole('table', { name: 'Users' }).locator(`tr[data-user="${name}"]`))
    .toContainText('Read-only Analyst — All scopes');
  await expect(prompt).toHaveCount(0);
});
