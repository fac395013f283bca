SELECT
  submission_date AS x,
  IF(country IN ('AR', 'AT', 'AU', 'BR', 'BY', 'CA', 'CH', 'CN', 'DE', 'ES', 'FR', 'GB', 'ID', 'IN', 'IR', 'IT', 'JP', 'KZ', 'MX', 'NL', 'PL', 'RU', 'TR', 'UA', 'US'), country, 'ROW') AS country,
  IFNULL(LOWER(normalized_os_version) LIKE '%windows 10%', FALSE) AS win10,
  IFNULL(LOWER(normalized_os_version) LIKE '%windows 11%', FALSE) AS win11,
  IFNULL(LOWER(normalized_os_version) LIKE '%windows%' AND NOT LOWER(normalized_os_version) LIKE '%windows 10%' AND NOT LOWER(normalized_os_version) LIKE '%windows 11%', FALSE) AS winX,
  SUM(mau) AS y,
FROM `moz-fx-data-shared-prod.telemetry.desktop_engagement`
WHERE is_desktop AND lifecycle_stage = 'existing_user'
  AND submission_date >= '2021-01-01'
GROUP BY ALL
ORDER BY 1, 2 ASC
