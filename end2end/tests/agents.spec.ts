import { test, expect } from '@playwright/test';
import { hydrated, signIn } from './helpers';

const run = Date.now().toString(36);

test('an admin issues an agent a token that may only read the inventory, for 30 days', async ({ page, request }) => {
  test.setTimeout(90_000);
  const name = `reader-${run}`;
  await signIn(page, 'admin');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Agents' }).click();
  await hydrated(page);
  const create = page.locator('form', { has: page.getByRole('button', { name: 'Create agent' }) });
  await create.getByLabel('Name').fill(name);
  await create.getByLabel('Description').fill('reads the inventory for the weekly report');
  await create.getByRole('button', { name: 'Create agent' }).click();
  await expect(page.getByText('Agent created.')).toBeVisible();

  // Every scope starts ticked: the admin keeps only what the agent needs.
  const row = page.getByRole('row', { name: new RegExp(name) });
  await row.getByRole('checkbox', { name: 'Change the inventory' }).uncheck();
  await row.getByRole('checkbox', { name: 'Draft notices' }).uncheck();
  await row.getByRole('checkbox', { name: 'Plan campaigns' }).uncheck();
  await row.getByRole('checkbox', { name: 'Use the vault' }).uncheck();
  await row.getByLabel(`Days ${name}'s token works`).fill('30');
  await row.getByRole('button', { name: `Issue a token to ${name}` }).click();

  const issued = page.getByRole('status').filter({ hasText: `New token for ${name}` });
  await expect(issued).toContainText('Scopes: inventory:read.');
  await expect(issued).toContainText('It stops working at');
  const token = (await page.getByTestId('new-token').textContent())!.trim();
  await expect(row.getByTestId('token-scopes')).toHaveText('scopes: inventory:read');
  await expect(row).toContainText('expires');

  // The token reads the inventory and nothing else.
  const auth = { Authorization: `Bearer ${token}` };
  expect((await request.get('/api/v1/consumers', { headers: auth })).status()).toBe(200);
  const vault = await request.get('/api/v1/vault/partitions', { headers: auth });
  expect(vault.status()).toBe(403);
  expect((await vault.json()).detail).toContain("lacks the scope 'vault'");
});
