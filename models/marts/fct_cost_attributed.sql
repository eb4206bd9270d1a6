{#-
    Billed AI cost by team, cost centre, application, feature and prompt template: one row
    per bill line (fact row) × team × cost centre × application × feature × prompt template
    (+ version) × attribution method, with its day, provider, model, API key and token type.
    Σ attributed_cost of a bill line = its billed cost; `unattributed` is what telemetry
    cannot explain (untagged or unreported calls), `unallocated` what no team may be charged.
-#}

with

attributed as (

    select * from {{ ref('int_cost__attributed') }}

),

providers as (

    select * from {{ ref('providers') }}

),

final as (

    select
        -- ids
        attributed.cost_attribution_key as x_cost_attribution_key,
        attributed.cost_row_key as x_cost_row_key,
        attributed.billing_account_id,
        attributed.sub_account_id,
        attributed.api_key_id as x_api_key_id,

        -- dimensions
        attributed.team,
        attributed.cost_centre,
        attributed.application,
        attributed.feature,
        attributed.prompt_template_id,
        attributed.prompt_template_version,
        providers.provider_name,
        attributed.provider as x_provider,
        attributed.model as x_model,
        attributed.token_type as x_token_type,
        attributed.service_tier as x_service_tier,

        -- quantities
        cast(attributed.telemetry_quantity as bigint) as x_telemetry_quantity,

        -- money
        attributed.attributed_cost,
        attributed.billing_currency,

        -- audit
        attributed.allocation_rule_id as x_allocation_rule_id,
        attributed.allocation_method as x_allocation_method,
        attributed.attribution_method as x_attribution_method,

        -- timestamps (UTC; period ends exclusive)
        cast(attributed.charge_date as timestamp) as charge_period_start,
        {{ add_days('cast(attributed.charge_date as timestamp)', 1) }} as charge_period_end

    from attributed
    left join providers
        on attributed.provider = providers.provider

)

select * from final
