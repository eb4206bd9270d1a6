with

source as (

    {{ select_from_source(source('raw_aws_bedrock', 'cost_explorer')) }}

),

final as (

    select
        -- ids
        _row_key as cost_explorer_row_key,

        -- dimensions
        usage_type,
        tag as tag_group_key,
        -- `<key>$<value>`; `<key>$` is spend without the tag
        nullif(substr(tag, strpos(tag, '$') + 1), '') as tag_value,
        unblended_cost__unit as billing_currency,
        unblended_cost__amount as amount_text,

        -- quantities
        {{ safe_cast_decimal('usage_quantity__amount') }} as usage_quantity,

        -- money
        {{ safe_cast_decimal('unblended_cost__amount') }} as billed_cost,

        -- flags
        estimated as is_estimated,

        -- timestamps
        cast(_bucket_date as date) as charge_date

    from source

)

select * from final
