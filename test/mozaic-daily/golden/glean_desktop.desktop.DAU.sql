SELECT
  submission_date AS x,
  IF(country IN ('AR', 'AT', 'AU', 'BR', 'BY', 'CA', 'CH', 'CN', 'DE', 'ES', 'FR', 'GB', 'ID', 'IN', 'IR', 'IT', 'JP', 'KZ', 'MX', 'NL', 'PL', 'RU', 'TR', 'UA', 'US'), country, 'ROW') AS country,
  IFNULL(LOWER(os_version) LIKE '%windows 10%', FALSE) AS win10,
  IFNULL(LOWER(os_version) LIKE '%windows 11%', FALSE) AS win11,
  IFNULL(LOWER(os_version) LIKE '%windows%' AND NOT LOWER(os_version) LIKE '%windows 10%' AND NOT LOWER(os_version) LIKE '%windows 11%', FALSE) AS winX,
  SUM(dau) AS y,
FROM `moz-fx-data-shared-prod.glean_telemetry.active_users_aggregates`
WHERE app_name = 'Firefox Desktop'
  AND submission_date >= '2023-04-17'
GROUP BY ALL
ORDER BY 1, 2 ASC
