import { test, expect } from '@playwright/test';
import { hydrated, signIn, signOut } from './helpers';

const run = Date.now().toString(36);

test('an admin issues an agent a token that may only read the inventory, for 30 days', async ({ page, context, request }) => {
  test.setTimeout(90_000);
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
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
  await row.getByRole('checkbox', { name: 'Write team messages' }).uncheck();
  await row.getByRole('checkbox', { name: 'Use the vault' }).uncheck();
  await row.getByLabel(`Days ${name}'s token works`).fill('30');
  await row.getByRole('button', { name: `Issue a token to ${name}` }).click();

  const issued = page.getByRole('status').filter({ hasText: `New token for ${name}` });
  await expect(issued).toContainText('Scopes: inventory:read.');
  await expect(issued).toContainText('It stops working at');
  const token = (await page.getByTestId('new-token').textContent())!.trim();
  await issued.getByRole('button', { name: 'Copy' }).click();
  await expect(issued.getByRole('button', { name: 'Copied' })).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(token);
  await expect(row.getByTestId('token-scopes')).toHaveText('scopes: inventory:read');
  await expect(row).toContainText('expires');

  // Shown once: the page, loaded again, lists the token by its scopes and expiry, never itself.
  await page.reload();
  await hydrated(page);
  await expect(row.getByTestId('token-scopes')).toHaveText('scopes: inventory:read');
  await expect(page.getByTestId('new-token')).toHaveCount(0);
  expect(await page.content()).not.toContain(token);

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

test('an agent plans a campaign over the API; it waits until an engineer starts it', async ({ page, request }) => {
  test.setTimeout(120_000);
  const name = `planner-${run}`;
  await signIn(page, 'admin');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Agents' }).click();
  await hydrated(page);
  const create = page.locator('form', { has: page.getByRole('button', { name: 'Create agent' }) });
  await create.getByLabel('Name').fill(name);
  await create.getByLabel('Description').fill('prepares rotations for people to start');
  await create.getByRole('button', { name: 'Create agent' }).click();
  await expect(page.getByText('Agent created.')).toBeVisible();
  const row = page.getByRole('row', { name: new RegExp(name) });
  await row.getByRole('button', { name: `Issue a token to ${name}` }).click();
  await expect(page.getByRole('status').filter({ hasText: `New token for ${name}` })).toContainText('campaigns');
  const token = (await page.getByTestId('new-token').textContent())!.trim();

  // Every production key older than 90 days, announced tomorrow; a retry plans nothing more.
  const at = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 16);
  const headers = { Authorization: `Bearer ${token}`, 'Idempotency-Key': `plan-${run}` };
  const data = {
    name: `Old production keys ${run}`, environment: 'production', older_than_days: 90,
    announce_at: at(1), new_key_at: at(2), deadline_at: at(30), grace_end_at: at(37),
  };
  const planned = await request.post('/api/v1/campaigns', { headers, data });
  expect(planned.status()).toBe(201);
  const { campaign } = await planned.json();
  expect(campaign.state).toBe('planned');
  const retried = await request.post('/api/v1/campaigns', { headers, data });
  expect(retried.headers()['idempotent-replayed']).toBe('true');
  expect((await retried.json()).campaign.id).toBe(campaign.id);

  // An engineer finds it planned, with nothing drafted, and starts it.
  await signOut(page);
  await signIn(page, 'engineer');
  await page.waitForURL((url) => !url.pathname.startsWith('/login'));
  await page.goto(`/campaigns/${campaign.id}`);
  await hydrated(page);
  // The line under the title: what it rotates, how many consumers, its state.
  const summary = page.locator('p', { hasText: / consumers · / });
  await expect(summary).toContainText('Planned');
  await expect(page.getByText(/none can be approved until the campaign starts/)).toBeVisible();
  await page.getByRole('button', { name: 'Start campaign' }).click();
  await expect(summary).toContainText('Active', { timeout: 60_000 });
  await expect(page.getByRole('button', { name: 'Start campaign' })).toHaveCount(0);
});
