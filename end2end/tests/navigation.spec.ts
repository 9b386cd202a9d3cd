import { test, expect } from '@playwright/test';
import { signIn, signOut } from './helpers';

const expected: Record<string, string[]> = {
  engineer: ['Home', 'Consumers', 'Credentials', 'Campaigns', 'Review', 'Mailbox', 'Vault'],
  approver: ['Home', 'Consumers', 'Credentials', 'Campaigns', 'Review', 'Mailbox', 'Vault'],
  security: ['Home', 'Consumers', 'Credentials', 'Campaigns', 'Review', 'Mailbox', 'Vault', 'Audit trail'],
  admin: ['Home', 'Vault', 'Users', 'Agents', 'Vault partitions', 'Settings'],
};

for (const [username, links] of Object.entries(expected)) {
  test(`${username} sees exactly the navigation of their role`, async ({ page }) => {
    await signIn(page, username);
    const nav = page.getByRole('navigation', { name: 'Main' });
    await expect(nav.getByRole('link')).toHaveText(links);
    await signOut(page);
  });
}

test('a wrong password shows a clear error and signs nobody in', async ({ page }) => {
  await signIn(page, 'engineer', 'not-the-password');
  await expect(page.getByRole('alert')).toHaveText('The username or password is wrong.');
  await expect(page).toHaveURL(/\/login/);
  await page.goto('/');
  await expect(page).toHaveURL(/\/login\?next=/);
});

test('every page hydrates under the Content Security Policy without a violation', async ({ page }) => {
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to (load|execute|apply)/.test(message.text())) {
      violations.push(message.text());
    }
  });
  await signIn(page, 'engineer');
  // Signing in navigates to the home page; a second navigation started before it ends would
  // abort it (net::ERR_ABORTED).
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
  for (const path of ['/', '/consumers', '/credentials', '/campaigns', '/review', '/vault', '/account']) {
    await page.goto(path);
    await page.locator('body[data-hydrated="true"]').waitFor({ state: 'attached' });
  }
  expect(violations).toEqual([]);
});
