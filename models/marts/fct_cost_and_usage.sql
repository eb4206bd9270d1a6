{#-
    The conformed, FOCUS-aligned fact of AI cost: one row per UTC day × provider × billing
    account × sub account × API key × model × token type × service tier. Billed cost comes
    from the providers' cost APIs (the truth); FOCUS column names in snake_case, extensions
    prefixed `x_`.
-#}

with

costs as (

    select * from {{ ref('int_cost__unioned') }}

),

providers as (

    select * from {{ ref('providers') }}

),

exchange_rates as (

    select * from {{ ref('exchange_rates') }}
    where to_currency = '{{ var("reporting_currency") }}'

),

-- a cost of day D converts at the latest fixing on or before D (fixings: business days only)
foreign_days as (

    select distinct
        billing_currency,
        charge_date
    from costs
    where billing_currency <> '{{ var("reporting_currency") }}'

),

fixings as (

    select
        foreign_days.billing_currency,
        foreign_days.charge_date,
        exchange_rates.rate,
        exchange_rates.rate_date,
        row_number() over (
            partition by foreign_days.billing_currency, foreign_days.charge_date
            order by exchange_rates.rate_date desc
        ) as recency
    from foreign_days
    inner join exchange_rates
        on foreign_days.billing_currency = exchange_rates.from_currency
        and exchange_rates.rate_date <= foreign_days.charge_date

),

day_rates as (

    select
        billing_currency,
        charge_date,
        rate,
        rate_date
    from fixings
    where recency = 1

),

converted as (

    select
        costs.*,
        case
            when costs.billing_currency = '{{ var("reporting_currency") }}' then 1
            else day_rates.rate
        end as exchange_rate,
        day_rates.rate_date as exchange_rate_date
    from costs
    left join day_rates
        on costs.billing_currency = day_rates.billing_currency
        and costs.charge_date = day_rates.charge_date

),

final as (

    select
        -- ids
        costs.cost_row_key as x_cost_row_key,
        costs.billing_account_id,
        costs.sub_account_id,
        costs.api_key_id as x_api_key_id,
        coalesce(costs.model || ':', '') || costs.token_type as sku_id,
        coalesce(costs.model || ':', '') || costs.token_type
        || coalesce(':' || costs.service_tier, '') as sku_price_id,

        costs.resource_id,

        -- dimensions
        coalesce(costs.provider_name, providers.provider_name) as provider_name,
        coalesce(costs.publisher_name, providers.publisher_name) as publisher_name,
        coalesce(costs.invoice_issuer_name, providers.invoice_issuer_name)
            as invoice_issuer_name,
        coalesce(costs.service_name, providers.service_name) as service_name,
        coalesce(costs.service_category, providers.service_category) as service_category,
        coalesce(costs.service_subcategory, providers.service_subcategory)
            as service_subcategory,
        costs.region_id,
        costs.charge_category,
        costs.charge_frequency,
        costs.charge_description,
        costs.provider as x_provider,
        costs.model as x_model,
        costs.token_type as x_token_type,
        costs.service_tier as x_service_tier,
        costs.tags as x_tags,
        costs.principal_id as x_principal_id,
        costs.kubernetes_namespace as x_kubernetes_namespace,

        -- quantities
        costs.consumed_quantity,
        costs.consumed_unit,
        costs.pricing_quantity,
        costs.pricing_unit,
        costs.source_row_count as x_source_row_count,

        -- money
        costs.list_unit_price,
        costs.contracted_unit_price,
        costs.billed_cost,
        costs.effective_cost,
        costs.list_cost,
        costs.billing_currency,
        cast('{{ var("reporting_currency") }}' as varchar) as x_reporting_currency,
        cast(costs.exchange_rate as decimal(18, 8)) as x_exchange_rate,
        costs.exchange_rate_date as x_exchange_rate_date,
        cast(costs.billed_cost * costs.exchange_rate as {{ money_type() }})
            as x_billed_cost_reporting,
        cast(costs.effective_cost * costs.exchange_rate as {{ money_type() }})
            as x_effective_cost_reporting,

        -- flags
        coalesce(costs.token_type, '') <> 'unknown' as x_is_token_type_mapped,
        costs.is_idle as x_is_idle,

        -- timestamps (UTC; period ends exclusive)
        cast(costs.charge_date as timestamp) as charge_period_start,
        {{ add_days('cast(costs.charge_date as timestamp)', 1) }} as charge_period_end,
        {{ month_start('cast(costs.charge_date as timestamp)') }} as billing_period_start,
        {{ add_months(month_start('cast(costs.charge_date as timestamp)'), 1) }}
            as billing_period_end

    from converted as costs
    left join providers
        on costs.provider = providers.provider

)

select * from final
