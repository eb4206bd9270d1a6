{{ config(materialized='view') }}
{#-
    Every billed cost row of every provider, one row per raw cost row, in one shape, with the
    reason it cannot be costed (null when it can). A provider adds one `union all` branch that
    ends with `conformed_columns({...})` (docs/contracts.md "Every provider in one shape"). The fact reads the valid rows, the
    quarantine table the others: nothing is dropped silently.
-#}

with

openai_costs as (

    select * from {{ ref('stg_openai__costs') }}

),

anthropic_costs as (

    select * from {{ ref('stg_anthropic__costs') }}

),

aws_bedrock_costs as (

    select * from {{ ref('stg_aws_bedrock__cur_line_items') }}

),

currency_codes as (

    select * from {{ ref('currency_codes') }}

),

unioned as (

    select
        'openai' as provider,
        'raw_openai.costs' as source_table,
        cost_row_key,
        billing_account_id,
        sub_account_id,
        api_key_id,
        model,
        cast(null as varchar) as service_tier,
        source_token_type,
        token_type,
        consumed_unit,
        line_item as charge_description,
        billing_currency,
        currency_text,
        amount_text,
        consumed_quantity,
        billed_cost,
        bucket_start_text,
        bucket_start_at,
        {{ conformed_columns() }}
    from openai_costs

    union all

    select
        'anthropic' as provider,
        'raw_anthropic.cost_report' as source_table,
        cost_row_key,
        billing_account_id,
        sub_account_id,
        cast(null as varchar) as api_key_id,
        model,
        service_tier,
        source_token_type,
        token_type,
        consumed_unit,
        description as charge_description,
        billing_currency,
        currency_text,
        amount_text,
        -- the cost report has no quantity: it comes from usage in int_cost__unioned
        cast(null as {{ money_type() }}) as consumed_quantity,
        billed_cost,
        bucket_start_text,
        bucket_start_at,
        {{ conformed_columns() }}
    from anthropic_costs

    union all

    select
        'aws_bedrock' as provider,
        'raw_aws_bedrock.cur_line_items' as source_table,
        cost_row_key,
        billing_account_id,
        sub_account_id,
        cast(null as varchar) as api_key_id,
        model,
        cast(null as varchar) as service_tier,
        source_token_type,
        token_type,
        consumed_unit,
        charge_description,
        billing_currency,
        currency_text,
        amount_text,
        consumed_quantity,
        billed_cost,
        bucket_start_text,
        bucket_start_at,
        {{ conformed_columns({
            'region_id': 'region_id',
            'resource_id': 'resource_id',
            'charge_category': 'charge_category',
            'tags': 'tags',
            'principal_id': 'principal_id',
            'list_cost': 'list_cost',
            'effective_cost': 'effective_cost',
        }) }}
    from aws_bedrock_costs

),

final as (

    select
        unioned.provider,
        unioned.source_table,
        unioned.cost_row_key,
        unioned.billing_account_id,
        unioned.sub_account_id,
        unioned.api_key_id,
        unioned.model,
        unioned.service_tier,
        unioned.source_token_type,
        unioned.token_type,
        unioned.consumed_unit,
        unioned.charge_description,
        unioned.billing_currency,
        unioned.currency_text,
        unioned.amount_text,
        unioned.consumed_quantity,
        unioned.billed_cost,
        unioned.bucket_start_text,
        unioned.bucket_start_at,
        cast(unioned.bucket_start_at as date) as charge_date,
        unioned.provider_name,
        unioned.publisher_name,
        unioned.invoice_issuer_name,
        unioned.service_name,
        unioned.service_category,
        unioned.service_subcategory,
        unioned.region_id,
        unioned.resource_id,
        coalesce(unioned.charge_category, 'Usage') as charge_category,
        coalesce(unioned.charge_frequency, 'Usage-Based') as charge_frequency,
        unioned.tags,
        unioned.principal_id,
        unioned.kubernetes_namespace,
        coalesce(unioned.is_idle, false) as is_idle,
        unioned.pricing_quantity,
        coalesce(unioned.pricing_unit, unioned.consumed_unit) as pricing_unit,
        unioned.list_unit_price,
        unioned.contracted_unit_price,
        coalesce(unioned.list_cost, unioned.billed_cost) as list_cost,
        coalesce(unioned.effective_cost, unioned.billed_cost) as effective_cost,
        case
            when unioned.amount_text is null then 'null_amount'
            when unioned.billed_cost is null then 'unparseable_amount'
            when currency_codes.currency_code is null then 'unknown_currency'
            when unioned.bucket_start_text is null then 'null_bucket_time'
            when unioned.bucket_start_at is null then 'unparseable_bucket_time'
        end as quarantine_reason
    from unioned
    left join currency_codes
        on unioned.billing_currency = currency_codes.currency_code

)

select * from final
