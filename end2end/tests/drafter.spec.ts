import { test, expect } from '@playwright/test';
import { hydrated, signIn, signOut } from './helpers';

// The language model is the small local one the tests use (SmolLM2-135M behind llama.cpp's
// server, started by scripts/e2e-server on the port after Rekey's; the admin sets it up at
// temperature 0). It writes poorly: what a person sees is either its draft, which passed every
// check, or the built-in draft with its attempt kept.
test('an admin sets up and tests the model and edits its prompt; an engineer drafts a campaign with it; a reviewer sees where each version came from, asks for a revision and approves', async ({ page, baseURL }) => {
  test.setTimeout(300_000);
  const modelUrl = `http://127.0.0.1:${Number(new URL(baseURL!).port) + 1}/v1`;

  // The admin points Rekey at the model, refines the prompt template, and tests the model.
  await signIn(page, 'admin');
  await expect(page.getByRole('heading', { name: 'Home' })).toBeVisible();
  await page.goto('/admin/settings');
  await hydrated(page);
  await expect(page.getByText('No model is set: the built-in drafter writes every notice.', { exact: false })).toBeVisible();
  await page.getByLabel('Endpoint URL (before /chat/completions)').fill(modelUrl);
  await page.getByLabel('Model name').fill('smollm2');
  await page.getByLabel('Timeout (seconds)').fill('120');
  await page.getByLabel('Maximum tokens per answer').fill('200');
  await page.getByLabel('Temperature (0 to 2)').fill('0');
  await page.getByRole('button', { name: 'Save the model' }).click();
  await expect(page.getByText('Model saved.', { exact: false })).toBeVisible();
  await expect(page.getByLabel('Model name')).toHaveValue('smollm2');
  await expect(page.getByRole('heading', { name: 'Prompt template, version 1' })).toBeVisible();
  const system = page.getByLabel("System message (the model's instructions)");
  await system.fill(`${await system.inputValue()} Use plain words.`);
  await page.getByRole('button', { name: 'Save as a new version' }).click();
  await expect(page.getByText('Prompt template version 2 saved.', { exact: false })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Prompt template, version 2' })).toBeVisible();
  await page.getByRole('button', { name: 'Test', exact: true }).click();
  await expect(page.getByText(/^The model answered in \d+ ms: \d+ tokens, [\d.]+ tokens\/s\.$/)).toBeVisible({ timeout: 90_000 });
  await signOut(page);

  // The engineer plans a small campaign whose announcements the model writes.
  await signIn(page, 'engineer');
  await expect(page.getByRole('heading', { name: 'Home' })).toBeVisible();
  await page.goto('/campaigns/new');
  await hydrated(page);
  await page.getByLabel('Campaign name').fill('Model-drafted rotation');
  await page.getByLabel('Chosen credentials').check();
  await page.getByRole('checkbox', { name: /Production key/ }).first().check();
  await page.getByLabel(/^The announcement alone/).check();
  await page.getByLabel('The language model smollm2').check();
  await page.getByRole('button', { name: 'Preview affected consumers' }).click();
  const preview = page.getByRole('region', { name: 'Preview' });
  await expect(preview).toContainText('Announcements written by the language model smollm2.');
  await page.getByRole('button', { name: /Create campaign and draft the series for 1 consumers/ }).click();

  // Drafting shows its progress until the model is done with the announcement.
  const drafting = page.getByRole('status', { name: 'Model drafting' });
  await expect(drafting).toContainText(/Announcements by the language model smollm2: [01] of 1 done/);
  await expect(drafting).toContainText('Tokens per second');
  await expect(drafting).toContainText('1 of 1 done', { timeout: 180_000 });
  await expect(page.getByText(/ consumers · Active$/)).toBeVisible({ timeout: 30_000 });

  // The notice says where each version came from, and compares the last two.
  await page.getByRole('link', { name: 'Open the review queue' }).click();
  await page.getByRole('link', { name: /^#\d+ v\d+$/ }).first().click();
  await hydrated(page);
  const versions = page.getByRole('region', { name: 'Versions' });
  await expect(versions).toContainText('built-in');
  await expect(page.getByLabel('Written by')).toHaveText(/^(built-in|model smollm2, prompt version 2)$/);
  const before = Number((await page.getByText(/^Version \d+$/).textContent())!.replace('Version ', ''));
  if (before > 1) {
    // The model wrote a version: its draft (current) or its failed attempt, labelled.
    await expect(versions).toContainText('model smollm2, prompt version 2');
    await expect(page.getByRole('region', { name: 'Versions' }).getByLabel('Differences')).not.toBeEmpty();
  }

  // The engineer asks the model for a revision: a new version through the same checks, or,
  // when the model gives none, a message saying so and nothing changed.
  await page.getByLabel('What should smollm2 change?').fill('Make it shorter.');
  await page.getByRole('button', { name: 'Revise' }).click();
  const revised = page.getByText('revised as asked: Make it shorter.', { exact: false });
  const refused = page.getByText(/model could not revise this notice/i);
  await expect(revised.or(refused).first()).toBeVisible({ timeout: 120_000 });
  if (await revised.isVisible()) {
    await expect(page.getByText(`Version ${before + 1}`, { exact: true })).toBeVisible();
    await expect(page.getByLabel('Written by')).toHaveText('model smollm2, prompt version 2');
  } else {
    await expect(page.getByText(`Version ${before}`, { exact: true })).toBeVisible();
  }
  // A version that fails its checks cannot be approved: the engineer restores the built-in
  // draft as a new version before submitting (the approver approves only what passes).
  const checks = page.getByRole('region', { name: 'Checks' });
  if ((await checks.textContent())!.includes('✗')) {
    const current = Number((await page.getByText(/^Version \d+$/).textContent())!.replace('Version ', ''));
    await versions.getByRole('button', { name: 'Restore v1' }).click();
    await expect(page.getByText(`Version ${current + 1}`, { exact: true })).toBeVisible();
    await expect(checks).not.toContainText('✗');
  }
  await page.getByRole('button', { name: 'Submit for review' }).click();
  await expect(page.getByText('Waiting for an approver.')).toBeVisible();
  const notice = page.url();
  await signOut(page);

  // The approver approves the version that passes.
  await signIn(page, 'approver');
  await expect(page.getByRole('heading', { name: 'Home' })).toBeVisible();
  await page.goto(notice);
  await hydrated(page);
  const approve = page.getByRole('button', { name: /^Approve version \d+$/ });
  await expect(approve).toBeEnabled();
  const label = (await approve.textContent())!;
  await approve.click();
  await expect(page.getByRole('region', { name: 'Decisions and delivery' })).toContainText(`Approved v${label.replace('Approve version ', '')} by approver`);
});
