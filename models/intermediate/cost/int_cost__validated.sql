{{ config(materialized='view') }}
{#-
    Every billed cost row of every provider, one row per raw cost row, in one shape, with the
    reason it cannot be costed (null when it can). A provider adds one `union all` branch that
    ends with `conformed_columns({...})` (docs/contracts.md "Every provider in one shape"). The fact reads the valid rows, the
    quarantine table the others: nothing is dropped silently.
-#}

{#-
    The provider CTEs and `unioned` are read twice (the rows, and the days a dedicated source
    covers): not_materialized() keeps DuckDB from storing millions of rows × every column to
    read them twice; inlined, the second read computes only the day and the provider.
-#}

with

openai_costs as {{ not_materialized() }} (

    select * from {{ ref('stg_openai__costs') }}

),

anthropic_costs as {{ not_materialized() }} (

    select * from {{ ref('stg_anthropic__costs') }}

),

focus_costs as (

    select * from {{ ref('stg_focus__cost_and_usage') }}

),

focus_dedicated_sources as (

    select * from {{ ref('focus_dedicated_sources') }}

),

opencost_costs as {{ not_materialized() }} (

    select * from {{ ref('int_opencost__idle_shared') }}

),

aws_bedrock_costs as {{ not_materialized() }} (

    select * from {{ ref('stg_aws_bedrock__cur_line_items') }}

),

gcp_vertex_ai_costs as {{ not_materialized() }} (

    select * from {{ ref('stg_gcp_vertex_ai__costs') }}

),

azure_openai_costs as {{ not_materialized() }} (

    select * from {{ ref('stg_azure_openai__costs') }}

),

currency_codes as (

    select * from {{ ref('currency_codes') }}

),

unioned as {{ not_materialized() }} (

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

    -- OpenCost: one row per allocation × resource, idle shared to namespaces by rule
    select
        'opencost' as provider,
        'raw_opencost.allocations' as source_table,
        cost_row_key,
        -- no account in OpenCost: the cluster is the billing scope, the namespace the sub one
        cluster_id as billing_account_id,
        kubernetes_namespace as sub_account_id,
        cast(null as varchar) as api_key_id,
        cast(null as varchar) as model,
        cast(null as varchar) as service_tier,
        source_token_type,
        token_type,
        consumed_unit,
        allocation_name as charge_description,
        '{{ var("opencost_billing_currency", "USD") }}' as billing_currency,
        cast(null as varchar) as currency_text,
        amount_text,
        consumed_quantity,
        billed_cost,
        window_start_text as bucket_start_text,
        window_start_at as bucket_start_at,
        {{ conformed_columns({
            'resource_id': 'allocation_name',
            'tags': 'labels',
            'kubernetes_namespace': 'kubernetes_namespace',
            'is_idle': 'is_idle',
        }) }}
    from opencost_costs

    union all

    -- AWS Bedrock: CUR 2.0 line items (Cost Explorer is landed for cross-checks only)
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
            'publisher_name': 'publisher_name',
        }) }}
    from aws_bedrock_costs

    union all

    -- Vertex AI: each exported line is a Usage charge at its cost before credits, each of its
    -- credits a Credit charge with the line's model and project (Σ = Google's net bill)
    select
        'gcp_vertex_ai' as provider,
        case
            when charge_category = 'Credit' then 'raw_gcp_vertex_ai.billing_export_credits'
            else 'raw_gcp_vertex_ai.billing_export'
        end as source_table,
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
            'service_name': 'service_name',
            'region_id': 'region_id',
            'charge_category': 'charge_category',
            'tags': 'tags',
            'list_cost': 'list_cost',
        }) }}
    from gcp_vertex_ai_costs

    union all

    -- Azure OpenAI: daily cost per account × meter, in the billing account's currency (EUR)
    select
        'azure_openai' as provider,
        'raw_azure_openai.cost_by_meter' as source_table,
        cost_row_key,
        billing_account_id,
        sub_account_id,
        cast(null as varchar) as api_key_id,
        model,
        cast(null as varchar) as service_tier,
        source_token_type,
        token_type,
        consumed_unit,
        meter as charge_description,
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
        }) }}
    from azure_openai_costs

),

-- FOCUS exports: the rest of the cloud. A cloud's AI service that a dedicated source also
-- bills (seeds/focus_dedicated_sources.csv) is left out on the days that source has landed
-- cost, first to last landed day: counted once, and kept when the source is not configured.
dedicated_coverage as (

    select
        focus_dedicated_sources.service_name,
        min(cast(unioned.bucket_start_at as date)) as first_covered_date,
        max(cast(unioned.bucket_start_at as date)) as last_covered_date
    from unioned
    inner join focus_dedicated_sources
        on unioned.provider = focus_dedicated_sources.dedicated_provider
    group by focus_dedicated_sources.service_name

),

focus_uncovered as (

    select
        'focus' as provider,
        'raw_focus.cost_and_usage' as source_table,
        focus_costs.cost_row_key,
        focus_costs.billing_account_id,
        focus_costs.sub_account_id,
        cast(null as varchar) as api_key_id,
        cast(null as varchar) as model,
        cast(null as varchar) as service_tier,
        focus_costs.source_token_type,
        focus_costs.token_type,
        focus_costs.consumed_unit,
        focus_costs.charge_description,
        focus_costs.billing_currency,
        focus_costs.currency_text,
        focus_costs.amount_text,
        focus_costs.consumed_quantity,
        focus_costs.billed_cost,
        focus_costs.charge_period_start_text as bucket_start_text,
        focus_costs.charge_period_start_at as bucket_start_at,
        {{ conformed_columns({
            'provider_name': 'focus_costs.provider_name',
            'publisher_name': 'focus_costs.publisher_name',
            'invoice_issuer_name': 'focus_costs.invoice_issuer_name',
            'service_name': 'focus_costs.service_name',
            'service_category': 'focus_costs.service_category',
            'service_subcategory': 'focus_costs.service_subcategory',
            'region_id': 'focus_costs.region_id',
            'resource_id': 'focus_costs.resource_id',
            'charge_category': 'focus_costs.charge_category',
            'charge_frequency': 'focus_costs.charge_frequency',
            'tags': 'focus_costs.tags',
            'kubernetes_namespace': 'focus_costs.kubernetes_namespace',
            'pricing_quantity': 'focus_costs.pricing_quantity',
            'pricing_unit': 'focus_costs.pricing_unit',
            'list_unit_price': 'focus_costs.list_unit_price',
            'contracted_unit_price': 'focus_costs.contracted_unit_price',
            'list_cost': 'focus_costs.list_cost',
            'effective_cost': 'focus_costs.effective_cost',
        }) }}
    from focus_costs
    left join dedicated_coverage
        on focus_costs.service_name = dedicated_coverage.service_name
        and cast(focus_costs.charge_period_start_at as date)
        between dedicated_coverage.first_covered_date and dedicated_coverage.last_covered_date
    where dedicated_coverage.service_name is null

),

every_provider as (

    select * from unioned
    union all
    select * from focus_uncovered

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
    from every_provider as unioned
    left join currency_codes
        on unioned.billing_currency = currency_codes.currency_code

)

select * from final
