SELECT
  submission_date AS x,
  IF(country IN ('AR', 'AT', 'AU', 'BR', 'BY', 'CA', 'CH', 'CN', 'DE', 'ES', 'FR', 'GB', 'ID', 'IN', 'IR', 'IT', 'JP', 'KZ', 'MX', 'NL', 'PL', 'RU', 'TR', 'UA', 'US'), country, 'ROW') AS country,
  IFNULL(LOWER(app_name) LIKE '%fenix%', FALSE) AS fenix_android,
  IFNULL(LOWER(app_name) LIKE '%firefox ios%', FALSE) AS firefox_ios,
  IFNULL(LOWER(app_name) LIKE '%focus android%', FALSE) AS focus_android,
  IFNULL(LOWER(app_name) LIKE '%focus ios%', FALSE) AS focus_ios,
  SUM(dau) AS y,
FROM `moz-fx-data-shared-prod.telemetry.mobile_engagement`
WHERE is_mobile AND lifecycle_stage = 'existing_user'
  AND submission_date >= '2023-07-01'
GROUP BY ALL
ORDER BY 1, 2 ASC
