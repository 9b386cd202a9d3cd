import { test, expect } from '@playwright/test';
import { DEMO_PASSWORD, hydrated, signIn } from './helpers';
import { totpCode } from './totp';

const run = Date.now().toString(36);

test('an API key is stored masked, revealed after the password, and hidden again', async ({ page }) => {
  test.setTimeout(90_000);
  const value = `sk_live_${run}e2eVaultValue0123456789`;
  await signIn(page, 'engineer');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Vault' }).click();
  await expect(page.getByRole('heading', { name: 'Vault' })).toBeVisible();
  await hydrated(page);

  await page.getByLabel('Name', { exact: true }).fill(`stripe-${run}`);
  await page.getByLabel('Kind').selectOption('api_key');
  await page.getByLabel('Value').fill(value);
  await page.getByLabel('Label').fill('Stripe live key');
  await page.getByRole('button', { name: 'Store secret' }).click();
  await expect(page.getByText('Stored as version 1.')).toBeVisible();

  const row = page.getByRole('row', { name: new RegExp(`stripe-${run}`) });
  await expect(row.getByTestId('masked')).toHaveText('sk_l…');
  await expect(page.locator('main, body').first()).not.toContainText(value);

  await row.getByRole('button', { name: `Reveal stripe-${run}` }).click();
  await expect(row.getByText('Confirm it is you')).toBeVisible();
  await row.getByLabel('Password or authenticator code').fill(DEMO_PASSWORD);
  await row.getByRole('button', { name: 'Confirm' }).click();
  await expect(row.getByTestId('revealed')).toHaveText(value);
  await expect(row.getByText(/hides in \d+s/)).toBeVisible();

  // Thirty seconds later the value is gone from the page again.
  await expect(row.getByTestId('revealed')).toHaveCount(0, { timeout: 40_000 });
  await expect(row.getByTestId('masked')).toHaveText('sk_l…');
  await expect(page.locator('body')).not.toContainText(value);
});

test('a stored TOTP seed shows the code an authenticator computes', async ({ page }) => {
  const seed = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
  await signIn(page, 'engineer');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Vault' }).click();
  await expect(page.getByRole('heading', { name: 'Vault' })).toBeVisible();
  await hydrated(page);
  await page.getByLabel('Name', { exact: true }).fill(`github-${run}`);
  await page.getByLabel('Kind').selectOption('totp_seed');
  await page.getByLabel('Value').fill(seed);
  await page.getByRole('button', { name: 'Store secret' }).click();
  await expect(page.getByText('Stored as version 1.')).toBeVisible();

  const row = page.getByRole('row', { name: new RegExp(`github-${run}`) });
  await row.getByRole('button', { name: `Show the TOTP code of github-${run}` }).click();
  // A code is as good as the seed for 30 seconds: it takes the same confirmation as a reveal.
  await expect(row.getByText('Confirm it is you')).toBeVisible();
  await row.getByLabel('Password or authenticator code').fill(DEMO_PASSWORD);
  await row.getByRole('button', { name: 'Confirm' }).click();
  const shown = row.getByTestId('totp-code');
  await expect(shown).toHaveText(/^\d{6}$/);
  const code = await shown.textContent();
  const now = Date.now() / 1000;
  // The code of this 30-second step, or of the previous one if the step turned meanwhile.
  expect([totpCode(seed, now), totpCode(seed, now - 30)]).toContain(code);
  await expect(row.getByText(/valid for \d+s/)).toBeVisible();
});
