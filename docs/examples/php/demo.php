<?php
function pushflow_settings(): array {
    $path = getenv('PUSHFLOW_DEMO') ?: '.pushflow/demo.json';
    $demo = is_file($path) ? json_decode(file_get_contents($path), true) : [];
    return [
        getenv('PUSHFLOW_API_URL') ?: ($demo['apiUrl'] ?? 'http://127.0.0.1:8080'),
        getenv('PUSHFLOW_APP_KEY') ?: ($demo['applicationKey'] ?? ''),
        getenv('PUSHFLOW_SECRET') ?: ($demo['secret'] ?? ''),
    ];
}
