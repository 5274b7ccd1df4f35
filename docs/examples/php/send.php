<?php
// Send a transactional push: php send.php <device token>
// Credentials from PUSHFLOW_API_URL / PUSHFLOW_APP_KEY / PUSHFLOW_SECRET, or .pushflow/demo.json.
require __DIR__ . '/demo.php';
[$apiUrl, $appKey, $secret] = pushflow_settings();
$token = $argv[1] ?? exit("usage: php send.php DEVICE_TOKEN\n");

$ch = curl_init("$apiUrl/v2.1/push");
curl_setopt_array($ch, [
    CURLOPT_POST => true,
    CURLOPT_RETURNTRANSFER => true,
    CURLOPT_HTTPHEADER => [
        "Authorization: $secret",
        "Application-Key: $appKey",
        'Content-Type: application/json',
        'Idempotency-Key: ' . bin2hex(random_bytes(16)),  // safe to retry: sent at most once
    ],
    CURLOPT_POSTFIELDS => json_encode([
        'device_tokens' => [$token],
        'title' => 'Your code',
        'content' => '123456 is your code',
        'externalId' => 'example-2fa',
    ]),
]);
$body = curl_exec($ch);
$status = curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
$envelope = json_decode($body, true);
if ($status !== 202) {
    foreach ($envelope['errors'] as $error) {
        fwrite(STDERR, "{$error['code']}: {$error['message']}\n");
    }
    exit(1);
}
echo $envelope['data'][0]['messageId'], "\n";
