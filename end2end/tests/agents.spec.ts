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

  // Revoked, it reads nothing more.
  await row.getByRole('button', { name: /^Revoke token/ }).click();
  await expect(row.getByText('revoked')).toBeVisible();
  expect((await request.get('/api/v1/consumers', { headers: auth })).status()).toBe(401);
});

test('the API reference renders from Rekey alone, under its content security policy', async ({ page }) => {
  const origin = new URL(test.info().project.use.baseURL!).origin;
  const elsewhere: string[] = [];
  const refused: string[] = [];
  page.on('request', (r) => {
    if (new URL(r.url()).origin !== origin && !r.url().startsWith('data:')) elsewhere.push(r.url());
  });
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) refused.push(m.text());
  });
  await signIn(page, 'admin');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Agents' }).click();
  await hydrated(page);
  await page.getByRole('link', { name: 'API reference' }).click();
  await expect(page).toHaveURL(/\/api-docs\/$/);
  await expect(page.getByRole('heading', { name: /Rekey API/ })).toBeVisible();
  // Every route group, and the campaign routes a script plans and drafts with.
  const reference = page.getByRole('main', { name: 'API reference' });
  for (const tag of ['campaigns', 'inventory', 'vault', 'audit']) {
    // A group's heading reads its name, then its description.
    await expect(reference.getByRole('heading', { name: new RegExp(`^${tag} `) })).toBeVisible();
  }
  await expect(reference.getByText('/api/v1/campaigns/{campaign}/notices')).toBeVisible();
  expect(elsewhere).toEqual([]);
  expect(refused).toEqual([]);
});
