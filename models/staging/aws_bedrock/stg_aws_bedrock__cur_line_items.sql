{%- set raw = ('raw_aws_bedrock', 'cur_line_items') -%}

with

source as (

    {{ current_delivery(source('raw_aws_bedrock', 'cur_line_items'), '_billing_period') }}

),

-- every usage type landed, older deliveries' too (a lookup): read from the table itself, not
-- from `renamed`, which DuckDB would otherwise store whole to read it twice
landed_usage_types as (

    select distinct line_item_usage_type
    from ({{ select_from_source(source('raw_aws_bedrock', 'cur_line_items')) }}) as landed

),

token_type_map as (

    select * from {{ ref('token_type_map') }}
    where provider = 'aws_bedrock'

),

region_prefixes as (

    select * from {{ ref('aws_region_prefixes') }}

),

line_item_types as (

    select * from {{ ref('aws_cur_line_item_types') }}

),

model_publishers as (

    select * from {{ ref('model_publishers') }}
    where provider = 'aws_bedrock'

),

renamed as (

    select
        -- ids
        -- a line of a delivery: AWS keeps line item ids unique only within a file
        _source_file || '#' || cast(_source_row_number as varchar) as cost_row_key,
        {{ source_column(raw, 'identity_line_item_id', 'varchar') }} as line_item_id,
        _billing_account_id as billing_account_id,
        line_item_usage_account_id as sub_account_id,
        {{ source_column(raw, 'line_item_usage_account_name', 'varchar') }}
            as sub_account_name,
        nullif({{ source_column(raw, 'line_item_resource_id', 'varchar') }}, '') as resource_id,
        nullif({{ source_column(raw, 'line_item_iam_principal', 'varchar') }}, '')
            as principal_id,

        -- dimensions
        nullif(line_item_usage_type, '') as usage_type,
        line_item_line_item_type as line_item_type,
        line_item_product_code as product_code,
        nullif({{ source_column(raw, 'line_item_operation', 'varchar') }}, '') as operation,
        nullif({{ source_column(raw, 'product_region_code', 'varchar') }}, '')
            as product_region_code,
        {{ source_column(raw, 'resource_tags', 'varchar') }} as tags,
        line_item_line_item_description as charge_description,
        line_item_currency_code as currency_text,
        cast(line_item_unblended_cost as varchar) as amount_text,

        -- quantities
        cast(line_item_usage_amount as {{ money_type() }}) as usage_amount,

        -- money (doubles in the CUR; every amount has at most 9 decimals)
        cast(line_item_unblended_cost as {{ money_type() }}) as billed_cost,
        cast(
            {{ source_column(raw, 'line_item_net_unblended_cost', 'double precision') }}
            as {{ money_type() }}
        ) as effective_cost,
        cast(
            {{ source_column(raw, 'pricing_public_on_demand_cost', 'double precision') }}
            as {{ money_type() }}
        ) as list_cost,

        -- timestamps (the UTC usage day is computed at ingestion: `_bucket_date`)
        cast(line_item_usage_start_date as varchar) as bucket_start_text,
        cast(_bucket_date as timestamp) as bucket_start_at,
        cast(_bucket_date as date) as bucket_date,
        _billing_period as billing_period

    from source

),

-- usage types are few: parse each distinct one once
usage_types as (

    select line_item_usage_type as usage_type
    from landed_usage_types
    where line_item_usage_type <> ''

),

prefixed as (

    select
        usage_types.usage_type,
        region_prefixes.region_prefix,
        region_prefixes.region_id,
        case
            when region_prefixes.region_prefix is not null
                then substr(usage_types.usage_type, length(region_prefixes.region_prefix) + 2)
            else usage_types.usage_type
        end as usage_type_rest
    from usage_types
    left join region_prefixes
        on split_part(usage_types.usage_type, '-', 1) = region_prefixes.region_prefix

),

-- the token kind is the longest seed label the usage type ends with ("-<label>")
kind_matches as (

    select
        prefixed.usage_type,
        token_type_map.source_token_type,
        token_type_map.token_type,
        token_type_map.consumed_unit,
        row_number() over (
            partition by prefixed.usage_type
            order by length(token_type_map.source_token_type) desc
        ) as match_rank
    from prefixed
    inner join token_type_map
        on right(prefixed.usage_type_rest, length(token_type_map.source_token_type) + 1)
        = '-' || token_type_map.source_token_type

),

parsed_models as (

    select
        prefixed.usage_type,
        prefixed.region_prefix,
        prefixed.region_id,
        case
            when kind_matches.source_token_type is not null
                then left(
                    prefixed.usage_type_rest,
                    length(prefixed.usage_type_rest)
                    - length(kind_matches.source_token_type) - 1
                )
        end as model,
        coalesce(kind_matches.source_token_type, prefixed.usage_type_rest)
            as source_token_type,
        kind_matches.token_type,
        kind_matches.consumed_unit
    from prefixed
    left join kind_matches
        on prefixed.usage_type = kind_matches.usage_type
        and kind_matches.match_rank = 1

),

-- the model's publisher: the longest seed prefix the parsed model starts with
publisher_matches as (

    select
        parsed_models.usage_type,
        model_publishers.publisher_name,
        row_number() over (
            partition by parsed_models.usage_type
            order by length(model_publishers.model_prefix) desc
        ) as match_rank
    from parsed_models
    inner join model_publishers
        on left(parsed_models.model, length(model_publishers.model_prefix))
        = model_publishers.model_prefix

),

parsed as (

    select
        parsed_models.*,
        publisher_matches.publisher_name
    from parsed_models
    left join publisher_matches
        on parsed_models.usage_type = publisher_matches.usage_type
        and publisher_matches.match_rank = 1

),

final as (

    select
        renamed.cost_row_key,
        renamed.line_item_id,
        renamed.billing_account_id,
        renamed.sub_account_id,
        renamed.sub_account_name,
        renamed.resource_id,
        renamed.principal_id,
        renamed.usage_type,
        renamed.line_item_type,
        renamed.product_code,
        renamed.operation,
        parsed.region_prefix,
        coalesce(parsed.region_id, renamed.product_region_code) as region_id,
        parsed.model,
        parsed.publisher_name,
        parsed.source_token_type,
        -- a kind the seed does not know (or a line without usage type: tax) stays `unknown`
        coalesce(parsed.token_type, 'unknown') as token_type,
        case when line_item_types.charge_category = 'Usage' then parsed.consumed_unit end
            as consumed_unit,
        line_item_types.charge_category,
        line_item_types.charge_class,
        renamed.tags,
        renamed.charge_description,
        upper(trim(renamed.currency_text)) as billing_currency,
        renamed.currency_text,
        renamed.amount_text,
        -- FOCUS: a consumed quantity only on usage rows (credits and tax consume nothing)
        case when line_item_types.charge_category = 'Usage' then renamed.usage_amount end
            as consumed_quantity,
        renamed.billed_cost,
        coalesce(renamed.effective_cost, renamed.billed_cost) as effective_cost,
        case
            when line_item_types.charge_category = 'Usage' then renamed.list_cost
            else renamed.billed_cost
        end as list_cost,
        renamed.bucket_start_text,
        renamed.bucket_start_at,
        renamed.bucket_date,
        renamed.billing_period
    from renamed
    left join parsed
        on renamed.usage_type = parsed.usage_type
    left join line_item_types
        on renamed.line_item_type = line_item_types.line_item_type

)

select * from final
