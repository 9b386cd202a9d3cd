import { test, expect } from '@playwright/test';
import { hydrated, signIn, signOut } from './helpers';
import { secretOf, totpCode } from './totp';

test('a new user enrols TOTP and signs in with a code', async ({ page }) => {
  // The admin creates the user, so the demo accounts stay as they are for other tests.
  await signIn(page, 'admin');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
  await hydrated(page);
  const form = page.locator('form', { has: page.getByRole('button', { name: 'Create user' }) });
  await form.getByLabel('Username', { exact: true }).fill('tess');
  await form.getByLabel('Name', { exact: true }).fill('Tess Totp');
  await form.getByLabel('E-mail').fill('tess@example.com');
  await form.getByLabel('Role').selectOption('approver');
  await form.getByLabel(/Initial password/).fill('tess has a long password');
  await form.getByRole('button', { name: 'Create user' }).click();
  await expect(page.getByText('User created.')).toBeVisible();
  await expect(page.getByRole('cell', { name: /Tess Totp/ })).toBeVisible();
  await signOut(page);

  await signIn(page, 'tess', 'tess has a long password');
  await expect(page.getByRole('heading', { name: 'Home' })).toBeVisible();
  await page.goto('/account');
  await hydrated(page);
  await page.getByRole('button', { name: 'Set up TOTP' }).click();
  await expect(page.getByLabel('TOTP QR code').locator('svg')).toBeVisible();
  const uri = await page.getByTestId('otpauth-uri').textContent();
  expect(uri).toMatch(/^otpauth:\/\/totp\/Rekey:tess\?/);
  const secret = secretOf(uri!);
  await page.getByLabel('Code from the app').fill(totpCode(secret, Date.now() / 1000));
  await page.getByRole('button', { name: 'Confirm and enable' }).click();
  await expect(page.getByText('TOTP is enabled.')).toBeVisible();
  await signOut(page);

  await signIn(page, 'tess', 'tess has a long password');
  await expect(page.getByLabel('Authentication code')).toBeVisible();
  // The enrolment used this step's code; the next step's code is accepted (one step of drift).
  await page.getByLabel('Authentication code').fill('000000');
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page.getByRole('alert')).toHaveText('The code is wrong or expired.');
  await page.getByLabel('Authentication code').fill(totpCode(secret, Date.now() / 1000 + 30));
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page.getByRole('heading', { name: 'Home' })).toBeVisible();
  await expect(page.getByRole('link', { name: /Tess Totp/ })).toBeVisible();
});
