SELECT
  first_seen_date AS x,
  IF(country IN ('AR', 'AT', 'AU', 'BR', 'BY', 'CA', 'CH', 'CN', 'DE', 'ES', 'FR', 'GB', 'ID', 'IN', 'IR', 'IT', 'JP', 'KZ', 'MX', 'NL', 'PL', 'RU', 'TR', 'UA', 'US'), country, 'ROW') AS country,
  IFNULL(LOWER(app_name) LIKE '%fenix%', FALSE) AS fenix_android,
  IFNULL(LOWER(app_name) LIKE '%firefox ios%', FALSE) AS firefox_ios,
  IFNULL(LOWER(app_name) LIKE '%focus android%', FALSE) AS focus_android,
  IFNULL(LOWER(app_name) LIKE '%focus ios%', FALSE) AS focus_ios,
  SUM(new_profiles) AS y,
FROM `moz-fx-data-shared-prod.telemetry.mobile_new_profiles`
WHERE is_mobile
  AND first_seen_date >= '2023-07-01'
  AND first_seen_date NOT BETWEEN '2023-07-18' AND '2023-07-19'
GROUP BY ALL
ORDER BY 1, 2 ASC
