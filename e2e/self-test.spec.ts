import { expect, test } from './fixtures';

test('the SimCLR step learns on WebGPU and agrees with the CPU on loss and gradients', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('status', { name: 'GPU status' })).toContainText('GPU check passed');
  await page.getByRole('button', { name: 'Run self-test' }).click();
  await expect(page.getByRole('progressbar', { name: 'Self-test progress' })).toBeVisible();
  const results = page.getByRole('definition');
  await expect(results.first()).toBeVisible({ timeout: 170_000 });
  await page.screenshot({ path: 'test-results/self-test.png', fullPage: true });
  const learning = results.nth(0);
  const agreement = results.nth(1);
  await expect(learning).toContainText('Passed');
  await expect(agreement).toContainText('Agree');
});
