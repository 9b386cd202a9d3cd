import { createHmac } from 'node:crypto';
import { test, expect, type APIRequestContext } from '@playwright/test';
import { hydrated, signIn } from './helpers';

// The signing secret scripts/e2e-server gives the server.
const SECRET = 'e2e-signing-secret-0123456789abcdef0123';
const run = Date.now().toString(36);
const alpha = `alpha-${run}@example.com`;
const header = 'consumer_id,consumer_name,pattern,sdk_language,time_zone,technical_email,credential_id,environment,prefix';

function csv(alphaEmail: string, betaZone: string): Buffer {
  return Buffer.from([
    header,
    `e2e-${run}-a,Alpha ${run},server_sdk,python,Europe/Berlin,${alphaEmail},e2e-${run}-a1,production,sk_live_a1`,
    `e2e-${run}-b,Beta ${run},mobile_app,,${betaZone},beta-${run}@example.com,e2e-${run}-b1,staging,sk_test_b1`,
  ].join('\n'));
}

async function postEvent(request: APIRequestContext, event: object) {
  const body = JSON.stringify(event);
  const t = Math.floor(Date.now() / 1000);
  const signature = createHmac('sha256', SECRET).update(`${t}.${body}`).digest('hex');
  const response = await request.post('/api/v1/events', {
    headers: { 'Rekey-Signature': `t=${t},v1=${signature}`, 'Content-Type': 'application/json' },
    data: body,
  });
  expect(response.status(), await response.text()).toBe(200);
}

test.describe.serial('inventory', () => {
  test('a CSV with two bad rows is refused row by row, fixed, and applied', async ({ page }) => {
    await signIn(page, 'engineer');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Consumers' }).click();
    await page.getByRole('link', { name: 'Import…' }).click();
    await expect(page.getByRole('heading', { name: 'Import consumers' })).toBeVisible();
    await hydrated(page);

    const file = page.getByLabel('CSV or JSON file');
    await file.setInputFiles({ name: 'consumers.csv', mimeType: 'text/csv', buffer: csv('alpha@', 'Mars/Base') });
    await page.getByRole('button', { name: 'Preview import' }).click();
    await expect(page.getByText('The file has 2 problems; nothing was imported.')).toBeVisible();
    await expect(page.getByRole('row', { name: /row 2, column technical_email/ })).toContainText("'alpha@' is not an e-mail address");
    await expect(page.getByRole('row', { name: /row 3, column time_zone/ })).toContainText("'Mars/Base' is not a time zone");
    await expect(page.getByRole('button', { name: 'Apply import' })).toHaveCount(0);

    await file.setInputFiles({ name: 'consumers.csv', mimeType: 'text/csv', buffer: csv(alpha, 'Europe/Paris') });
    await page.getByRole('button', { name: 'Preview import' }).click();
    await expect(page.getByText('Preview: nothing is written until you apply.')).toBeVisible();
    await expect(page.getByRole('row', { name: 'Consumers' })).toHaveText(/Consumers\s*2\s*0\s*0/);
    await expect(page.getByRole('row', { name: 'Credentials' })).toHaveText(/Credentials\s*2\s*0\s*0/);
    await page.getByRole('button', { name: 'Apply import' }).click();
    await expect(page.getByRole('status').getByText('Imported.')).toBeVisible();
  });

  test('a consumer is found by a contact e-mail address', async ({ page }) => {
    await signIn(page, 'engineer');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Consumers' }).click();
    await expect(page.getByRole('heading', { name: 'Consumers' })).toBeVisible();
    await hydrated(page);
    await page.getByLabel('Search').fill(alpha);
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await expect(page).toHaveURL(new RegExp(`q=${encodeURIComponent(alpha).replace('.', '\\.')}`));
    await expect(page.getByRole('row')).toHaveCount(2);
    await page.getByRole('link', { name: `Alpha ${run}` }).click();
    await expect(page.getByRole('heading', { name: `Alpha ${run}` })).toBeVisible();
    await expect(page.getByText(alpha)).toBeVisible();
  });

  test('the consumer page shows a credential as migrated after signed events', async ({ page, request }) => {
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await postEvent(request, {
      id: `evt-${run}-rotated`, type: 'key.rotated', occurred_at: now,
      data: { credential: `e2e-${run}-a1`, replacement: `e2e-${run}-a2`, prefix: 'sk_live_a2' },
    });
    await postEvent(request, {
      id: `evt-${run}-used`, type: 'key.used', occurred_at: now,
      data: { uses: [{ credential: `e2e-${run}-a2`, used_at: now }] },
    });
    await signIn(page, 'engineer');
    await expect(page.getByRole('navigation', { name: 'Main' })).toBeVisible();
    await page.goto(`/consumers?q=${encodeURIComponent(alpha)}`);
    const line = page.getByRole('row', { name: new RegExp(`Alpha ${run}`) });
    await expect(line.getByText('1 migrated')).toBeVisible();
    await line.getByRole('link', { name: `Alpha ${run}` }).click();
    const old = page.getByRole('row', { name: new RegExp(`e2e-${run}-a1`) });
    await expect(old.getByText('migrated', { exact: true })).toBeVisible();
    await expect(old).toContainText(`to e2e-${run}-a2 since`);
    await expect(old.getByText('superseded', { exact: true })).toBeVisible();
    await expect(page.getByText('credential.event_applied').first()).toBeVisible();
  });
});
