import { test, expect } from '@playwright/test';
import { hydrated, signIn, signOut } from './helpers';
import { secretOf, totpCode } from './totp';

test('a new user chooses their own password, enrols TOTP with it, and keeps recovery codes', async ({ page }) => {
  test.setTimeout(90_000);
  // The admin creates the user, so the demo accounts stay as they are for other tests.
  await signIn(page, 'admin');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
  await hydrated(page);
  const form = page.locator('form', { has: page.getByRole('button', { name: 'Create user' }) });
  await form.getByLabel('Username', { exact: true }).fill('tess');
  await form.getByLabel('Name', { exact: true }).fill('Tess Totp');
  await form.getByLabel('E-mail').fill('tess@example.com');
  await form.getByLabel('Role').selectOption('approver');
  await form.getByLabel(/First password/).fill('chosen by the admin');
  await form.getByRole('button', { name: 'Create user' }).click();
  await expect(page.getByText('User created.')).toBeVisible();
  await expect(page.getByRole('cell', { name: /Tess Totp/ })).toBeVisible();
  await signOut(page);

  // The admin knows the first password, so it opens nothing but the account page.
  await signIn(page, 'tess', 'chosen by the admin');
  await expect(page).toHaveURL(/\/account$/);
  await expect(page.getByRole('alert')).toContainText('An admin chose the password you signed in with');
  await hydrated(page);
  const change = page.locator('form', { has: page.getByRole('button', { name: 'Change password' }) });
  await change.getByLabel('Current password').fill('chosen by the admin');
  await change.getByLabel(/New password/).fill('only tess knows this');
  await change.getByLabel('Repeat the new password').fill('only tess knows this');
  await change.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('heading', { name: 'Home' })).toBeVisible();

  // Setting up TOTP needs the password, before and after the QR code.
  await page.goto('/account');
  await hydrated(page);
  const begin = page.locator('form', { has: page.getByRole('button', { name: 'Set up TOTP' }) });
  await begin.getByLabel('Current password').fill('not the password');
  await begin.getByRole('button', { name: 'Set up TOTP' }).click();
  await expect(page.getByText('The current password is wrong.')).toBeVisible();
  await begin.getByLabel('Current password').fill('only tess knows this');
  await begin.getByRole('button', { name: 'Set up TOTP' }).click();
  await expect(page.getByLabel('TOTP QR code').locator('svg')).toBeVisible();
  const uri = await page.getByTestId('otpauth-uri').textContent();
  expect(uri).toMatch(/^otpauth:\/\/totp\/Rekey:tess\?/);
  const secret = secretOf(uri!);
  const confirm = page.locator('form', { has: page.getByRole('button', { name: 'Confirm and enable' }) });
  await confirm.getByLabel('Current password, again').fill('only tess knows this');
  await confirm.getByLabel('Code from the app').fill(totpCode(secret, Date.now() / 1000));
  await confirm.getByRole('button', { name: 'Confirm and enable' }).click();
  const codes = page.getByTestId('recovery-codes').getByRole('listitem');
  await expect(codes).toHaveCount(10);
  const recovery = (await codes.first().textContent())!;
  expect(recovery).toMatch(/^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/);
  await page.getByRole('button', { name: 'I have stored them' }).click();
  await expect(page.getByText('TOTP is enabled.')).toBeVisible();
  await signOut(page);

  await signIn(page, 'tess', 'only tess knows this');
  await expect(page.getByLabel('Authentication code')).toBeVisible();
  // The enrolment used this step's code; the next step's code is accepted (one step of drift).
  await page.getByLabel('Authentication code').fill('000000');
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page.getByRole('alert')).toHaveText('The code is wrong or expired.');
  await page.getByLabel('Authentication code').fill(totpCode(secret, Date.now() / 1000 + 30));
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page.getByRole('heading', { name: 'Home' })).toBeVisible();
  await expect(page.getByRole('link', { name: /Tess Totp/ })).toBeVisible();
  await signOut(page);

  // A lost phone: a recovery code signs in once.
  await signIn(page, 'tess', 'only tess knows this');
  await page.getByLabel('Authentication code').fill(recovery);
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page.getByRole('heading', { name: 'Home' })).toBeVisible();
});
