// What both benchmarks need: a probe that records when the app has hydrated, and a signed-in
// browser state.
import type { BrowserContext } from '@playwright/test';
import { PASSWORD } from '../tests/helpers';

/** Records when the app has hydrated (`data-hydrated="true"`), relative to the HTML's end. */
export const HYDRATION_PROBE = () => {
  new MutationObserver((_, observer) => {
    if (document.querySelector('.app[data-hydrated="true"]')) {
      (window as unknown as { __hydratedAt: number }).__hydratedAt = performance.now();
      observer.disconnect();
    }
  }).observe(document, { subtree: true, attributes: true, childList: true });
};

export async function signedIn(context: BrowserContext) {
  const page = await context.newPage();
  await page.goto('/sign-in');
  await page.waitForSelector('.app[data-hydrated="true"]');
  await page.getByLabel('User name').fill('admin');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  const state = await context.storageState();
  await page.close();
  return state;
}
