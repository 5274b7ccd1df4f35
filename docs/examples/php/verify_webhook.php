<?php
// Verify a Pushflow webhook (Standard Webhooks) in a PHP endpoint.
// The standard-webhooks Composer package does the same: (new \StandardWebhooks\Webhook($secret))->verify($body, $headers)
function pushflow_verify_webhook(string $secret, array $headers, string $body): array {
    $id = $headers['webhook-id'] ?? '';
    $timestamp = $headers['webhook-timestamp'] ?? '';
    if (abs(time() - (int)$timestamp) > 300) {
        throw new RuntimeException('timestamp outside the tolerance');
    }
    $key = base64_decode(preg_replace('/^whsec_/', '', $secret));
    $expected = base64_encode(hash_hmac('sha256', "$id.$timestamp.$body", $key, true));
    foreach (explode(' ', $headers['webhook-signature'] ?? '') as $candidate) {
        [$version, $signature] = array_pad(explode(',', $candidate, 2), 2, '');
        if ($version === 'v1' && hash_equals($expected, $signature)) {
            return json_decode($body, true);
        }
    }
    throw new RuntimeException('no matching signature');
}

// As an endpoint: php -S 127.0.0.1:9000 verify_webhook.php  (with PUSHFLOW_WEBHOOK_SECRET set)
if (PHP_SAPI !== 'cli') {
    $headers = array_change_key_case(getallheaders(), CASE_LOWER);
    try {
        $event = pushflow_verify_webhook(getenv('PUSHFLOW_WEBHOOK_SECRET'), $headers, file_get_contents('php://input'));
        error_log("{$event['type']} {$event['data']['dispatchId']} {$event['data']['status']}");
        http_response_code(204);
    } catch (RuntimeException $e) {
        http_response_code(400);
    }
}
