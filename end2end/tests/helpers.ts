import { expect, type Page } from '@playwright/test';

export const PASSWORD = 'correct horse battery';

/** Waits until the wasm has hydrated the page, so clicks reach Leptos, not a bare form. */
export async function hydrated(page: Page) {
  await expect(page.locator('.app')).toHaveAttribute('data-hydrated', 'true');
}

/** Signs in through the real form, starting from a protected page. */
export async function signIn(page: Page, user = 'admin', password = PASSWORD) {
  await page.goto('/');
  await expect(page).toHaveURL(/\/sign-in\?next=%2F$|\/sign-in\?next=\/$/);
  await hydrated(page);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible();
}

/** Collects console errors (a CSP violation or a failed hydration shows up here). */
export function consoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  return errors;
}
